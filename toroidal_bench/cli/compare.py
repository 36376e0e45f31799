"""`tbench compare A.parquet B.parquet ...`: each metric's aggregate per task × length, deltas vs the first run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .errors import handles_errors
from .output import COMPARE_FORMATS, console, emit_frame, markdown, pick_format

#: a heading longer than this is shown as [k] with a legend in markdown and LaTeX
LONG_HEADING = 24


@handles_errors
def compare(
    files: Annotated[list[Path], typer.Argument(help="Results files; the first file's first spec is the "
                                                     "reference unless --reference names one.")],
    fmt: Annotated[str, typer.Option(
        "--format", "-f", metavar="FORMAT",
        help="table (rich, for a terminal); markdown, latex or csv: one row per task × length × metric and "
             "a column per model spec (value, Δ and CI); long (csv) or json: every column of the tidy "
             "long table.")] = "table",
    reference: Annotated[str | None, typer.Option(
        "--reference", "-r", help="Model spec to compare against (default: the first file's first spec).")] = None,
) -> None:
    """Compare runs: each metric aggregated as declared (accuracy: mean; perplexity: exp(Σ NLL ÷ Σ tokens)),
    delta vs the first file with a 95% paired bootstrap CI over matching sample ids, and wins/losses
    counted in the metric's direction. Columns are named by model spec (long specs become numbered
    keys with a legend). Counts (tokens, bytes) appear in long and json only; metrics measured by
    position (NLL by position) get a table of their own, or rows with their positions in markdown,
    latex and csv."""
    from ..compare import compare as compare_runs
    from ..compare import pivot

    fmt = pick_format(fmt, COMPARE_FORMATS)
    table = compare_runs(files, reference=reference)
    if fmt == "table":
        for rendered in _rich_tables(table):
            console.print(rendered)
    elif fmt in ("json", "long"):
        emit_frame(table, "json" if fmt == "json" else "csv")
    elif fmt == "csv":
        emit_frame(pivot(table), "csv", float_format="%.6g")
    else:
        frame, legend = _paper_table(table, latex=fmt == "latex")
        print(_latex(frame, legend) if fmt == "latex" else _markdown(frame, legend))


_NOTE = ("The first model spec is the reference; each other cell holds its value, its difference from "
         "the reference (Δ) and the 95% paired-bootstrap CI of that difference over matching samples.")


def _rich_tables(table, width: int | None = None) -> list:
    """The scores table, then the by-position table when any metric has positions, then the legend
    when the model specs are too long to head their columns in a console `width` columns wide."""
    from ..compare import headings, scores

    width = width or console.width
    whole, by_position = scores(table)
    parts = [(part, part is by_position) for part in (whole, by_position) if not part.empty]
    heads = headings(table)
    keys = {h: h for h in heads}
    if not all(_heads_fit(_rich_table(part, keys, positions, caption=False), heads, width)
               for part, positions in parts):
        keys = {h: f"[{i}]" for i, h in enumerate(heads, 1)}
    tables = [_rich_table(part, keys, positions) for part, positions in parts]
    return tables + ([_legend(keys)] if any(k != h for h, k in keys.items()) else [])


def _heads_fit(table, heads: list[str], width: int) -> bool:
    """Whether `table` (without title or caption, so that only its header can hold a heading) drawn
    for a console `width` columns wide stays within them with every heading on one line."""
    import io

    from rich.console import Console

    probe = Console(width=width, file=io.StringIO(), record=True)
    probe.print(table, crop=False)
    lines = probe.export_text().splitlines()
    return max(map(len, lines)) <= width and all(any(h in line for line in lines) for h in heads)


def _legend(keys: dict[str, str]):
    from rich.markup import escape
    from rich.text import Text

    lines = [f"[bold]{escape(k)}[/] {escape(h)}" for h, k in keys.items()]
    return Text.from_markup("\n".join(lines))


def _rich_table(table, keys: dict[str, str] | None = None, positions: bool = False, caption: bool = True):
    from rich.markup import escape
    from rich.table import Table

    from ..compare import headings, task_names

    shown = keys or {h: h for h in headings(table)}
    columns = dict(zip(table.attrs["columns"], shown.values(), strict=True))  # label → header, reference first
    ref = next(iter(shown.values()))
    title = "tbench compare · by position" if positions else "tbench compare"
    t = Table(title=title if caption else None,
              caption=f"Δ and 95% paired-bootstrap CI vs {escape(ref)}; green = better (↑ higher / ↓ lower "
                      "is better); W/L = samples better/worse" if caption else None)
    names = task_names(table["task"])
    for name in ["task", "length", "metric"] + (["positions"] if positions else []):
        t.add_column(name, style="cyan" if name == "task" else None,
                     justify="right" if name in ("length", "positions") else "left", overflow="fold")
    for header in columns.values():
        # specs are not markup; a spec column is at least as wide as its heading, so it does not fold
        t.add_column(escape(header), justify="right", overflow="fold", min_width=len(header))
    group_by = ["task", "context_length", "metric", "position", "position_end"]
    for key, group in table.groupby(group_by, sort=False, dropna=False):
        task, length, metric, start, end = key
        cells = {r["column"]: r for _, r in group.iterrows()}
        arrow = {"higher": " ↑", "lower": " ↓"}.get(group["better"].iloc[0], "")
        row = [escape(names[task]), str(length), escape(metric) + arrow]
        if positions:
            row.append(f"[{int(start)}, {int(end)})")
        t.add_row(*row, *(_cell(cells.get(c), i == 0) for i, c in enumerate(columns)))
    return t


def _cell(r, is_ref: bool) -> str:
    if r is None:
        return "[dim]—[/]"
    err = f" [red]{int(r['n_error'])} err[/]" if r["n_error"] else ""
    if r["n"] == 0:
        return f"[red]failed[/]{err}"
    value = "—" if _nan(r["value"]) else f"{r['value']:.4g}"
    text = f"{value} [dim](n={int(r['n'])})[/]"
    if is_ref or _nan(r.get("delta")):
        return text + err
    from ..metrics import metric

    d = r["delta"]
    better = metric(r["metric"]).improved(d)
    color = "green" if better else "red" if better is False else "dim"
    text += f"\n[{color}]Δ {d:+.4g}[/]"
    if not _nan(r.get("ci_low")):
        text += f" [{r['ci_low']:+.3g}, {r['ci_high']:+.3g}]"
    if not _nan(r.get("wins")):
        text += f" {int(r['wins'])}W/{int(r['losses'])}L"
    return text + err


def _paper_table(table, latex: bool):
    """(the scores as text, one row per task × length × metric[ × positions], one column per model
    spec; the legend: header key → heading where a heading is long). Cells: the reference's value,
    the others' value (Δ [CI])."""
    import pandas as pd

    from ..compare import headings, scores, task_names

    whole, by_position = scores(table)
    rows = pd.concat([whole, by_position]) if not by_position.empty else whole
    heads = headings(table)
    long = any(len(h) > LONG_HEADING for h in heads)
    keys = {h: f"[{i}]" if long else h for i, h in enumerate(heads, 1)}
    columns = dict(zip(table.attrs["columns"], keys.values(), strict=True))
    names = task_names(rows["task"])
    out = []
    group_by = ["task", "context_length", "metric", "position", "position_end"]
    for (task, length, metric, start, end), group in rows.groupby(group_by, sort=False, dropna=False):
        cells = {r["column"]: r for _, r in group.iterrows()}
        arrow = {"higher": "↑", "lower": "↓"}.get(group["better"].iloc[0], "")
        line = {"task": names[task], "length": int(length), "metric": f"{metric} {arrow}".strip()}
        if not by_position.empty:
            line["positions"] = "" if _nan(start) else f"[{int(start)}, {int(end)})"
        for i, (label, header) in enumerate(columns.items()):
            line[header] = _text(cells.get(label), i == 0, latex)
        out.append(line)
    legend = {k: h for h, k in keys.items() if k != h}
    return pd.DataFrame(out), legend


def _text(r, is_ref: bool, latex: bool) -> str:
    dash = "--" if latex else "—"
    if r is None:
        return dash
    if r["n"] == 0:
        return "failed"
    err = f" ({int(r['n_error'])} failed)" if r["n_error"] else ""
    value = dash if _nan(r["value"]) else f"{r['value']:.4g}"
    if is_ref or _nan(r.get("delta")):
        return value + err
    ci = "" if _nan(r.get("ci_low")) else f" [{r['ci_low']:+.3g}, {r['ci_high']:+.3g}]"
    return f"{value} ({r['delta']:+.4g}{ci}){err}"


def _markdown(frame, legend: dict[str, str]) -> str:
    lines = [markdown(frame, left=("task", "metric", "positions")), "", _NOTE]
    if legend:
        lines += [""] + [f"- {k} `{h}`" for k, h in legend.items()]
    return "\n".join(lines)


def _latex(frame, legend: dict[str, str]) -> str:
    """A booktabs table by pandas' Styler (every name escaped), the legend as a second tabular."""
    import pandas as pd

    def arrows(text: str) -> str:  # after escaping, which leaves the arrows alone
        return text.replace("↑", r"$\uparrow$").replace("↓", r"$\downarrow$")

    style = (frame.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
             .format(arrows, subset=["metric"], escape="latex"))
    align = "".join("l" if c in ("task", "metric", "positions") else "r" for c in frame.columns)
    caption = _NOTE.replace("Δ", r"$\Delta$").replace("%", r"\%")
    body = style.to_latex(hrules=True, column_format=align, environment="table", position_float="centering",
                          caption=caption)
    if legend:
        keys = pd.DataFrame({"key": list(legend), "spec": list(legend.values())})
        # {[1]}: a row may not start with '[', which LaTeX would read as the optional argument of \\
        key_table = (keys.style.hide(axis="index").hide(axis="columns")
                     .format(lambda key: f"{{{key}}}", subset=["key"], escape="latex")
                     .format(lambda spec: rf"\texttt{{{spec}}}", subset=["spec"], escape="latex"))
        legend_tabular = key_table.to_latex(column_format="ll")
        body = body.replace("\\end{table}", "\\par\\medskip\n" + legend_tabular + "\\end{table}")
    return "% needs \\usepackage{booktabs}\n" + body.rstrip("\n")


def _nan(v) -> bool:
    import pandas as pd

    return v is None or bool(pd.isna(v))
