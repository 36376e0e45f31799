"""One output sink: data to stdout (a rich table, or a --format for machines and papers), everything
else to stderr."""

from __future__ import annotations

from rich.console import Console

from ..errors import UnknownNameError

console = Console()
err_console = Console(stderr=True)

COMPARE_FORMATS = ("table", "markdown", "latex", "csv", "long", "json")
GATE_FORMATS = ("table", "junit", "json", "markdown")


def pick_format(fmt: str, choices: tuple[str, ...]) -> str:
    """`fmt` when it is one of `choices`, else a one-line usage error with a did-you-mean."""
    if fmt not in choices:
        raise UnknownNameError("format", fmt, choices)
    return fmt


def emit_frame(df, fmt: str, float_format: str | None = None) -> None:
    """Print a DataFrame as JSON records or CSV to stdout."""
    if fmt == "json":
        print(df.to_json(orient="records", indent=2))
    elif fmt == "csv":
        print(df.to_csv(index=False, float_format=float_format), end="")
    else:
        raise ValueError(fmt)


def markdown(df, left: tuple[str, ...] = ()) -> str:
    """A GitHub-flavoured pipe table of `df`'s cells as text, the columns in `left` aligned left and
    the others right; a `|` inside a cell (a spec's list value `a|b`) is escaped so that it does not
    split the cell."""
    text = df.astype(str).map(lambda v: v.replace("|", "\\|"))
    text.columns = [str(c).replace("|", "\\|") for c in df.columns]
    align = ["left" if c in left else "right" for c in df.columns]
    return text.to_markdown(index=False, disable_numparse=True, colalign=align)
