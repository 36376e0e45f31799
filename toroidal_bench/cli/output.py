"""One output sink: data to stdout (rich table, or --format json|csv|markdown), everything else to stderr."""

from __future__ import annotations

import enum

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


class Format(str, enum.Enum):
    table = "table"
    markdown = "markdown"
    json = "json"
    csv = "csv"


def emit_frame(df, fmt: Format) -> None:
    """Print a DataFrame in a machine-readable format to stdout."""
    if fmt is Format.json:
        print(df.to_json(orient="records", indent=2))
    elif fmt is Format.csv:
        print(df.to_csv(index=False), end="")
    elif fmt is Format.markdown:
        print(df.to_markdown(index=False, floatfmt=".4g"))
    else:
        raise ValueError(fmt)
