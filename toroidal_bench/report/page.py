"""The report's HTML page: one static file, inline CSS, figures referenced as the PNG files beside it
(each linked to its SVG); no script and nothing fetched from the network. Tables are rendered by
pandas (Styler / to_html), which escapes every value."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

from ..compare import task_names
from ..metrics import metric
from .figures import Figure

GENERATOR = "tbench report"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2.2rem; }
nav a { margin-right: 1rem; }
.note { color: #666; font-style: italic; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; display: table; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { display: table-caption; caption-side: bottom; font-size: .85rem; color: #444; }
.wide { overflow-x: auto; }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: right; vertical-align: top; }
th { background: #f4f4f4; } td.text, th.text { text-align: left; }
code { font-size: .85rem; }
"""


@dataclass
class Section:
    """One part of the page: its anchor, heading, and either a body or a one-line note saying why it
    is absent."""

    anchor: str
    title: str
    body: str = ""
    note: str = ""
    figures: list[Figure] = field(default_factory=list)

    def html(self) -> str:
        parts = [f'<section id="{self.anchor}">', f"<h2>{html.escape(self.title)}</h2>"]
        if self.note:
            parts.append(f'<p class="note">{html.escape(self.note)}</p>')
        if self.figures:
            parts.append('<div class="figures">')
            parts += [_figure(f) for f in self.figures]
            parts.append("</div>")
        if self.body:
            parts.append(self.body)
        parts.append("</section>")
        return "\n".join(parts)


def _figure(f: Figure) -> str:
    src, svg = html.escape(f.png, quote=True), html.escape(f.svg, quote=True)
    return (f'<figure><a href="{svg}"><img src="{src}" alt="{html.escape(f.title, quote=True)}"></a>'
            f"<figcaption><b>{html.escape(f.title)}</b>: {html.escape(f.caption)} "
            f'(<a href="{svg}">SVG</a>)</figcaption></figure>')


def page(title: str, sources: list[str], sections: list[Section]) -> str:
    nav = " ".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    files = ", ".join(f"<code>{html.escape(s)}</code>" for s in sources)
    body = "\n".join(s.html() for s in sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="{GENERATOR}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>Results: {files}</p>
<nav>{nav}</nav>
{body}
</body>
</html>
"""


def table(df: pd.DataFrame, text: tuple[str, ...] = ()) -> str:
    """A plain table (numbers to 4 significant digits, missing as —); `text` columns left-aligned."""
    floats = [c for c in df.columns if pd.api.types.is_float_dtype(df[c])]
    style = df.style.hide(axis="index").format(_num, subset=floats, na_rep="—")
    style = style.set_table_attributes('class="data"')
    return f'<div class="wide">{_with_text_class(style, df, text).to_html()}</div>'


def compare_table(pivoted: pd.DataFrame, headings: list[str]) -> str:
    """compare.pivot's frame: each spec's value and, past the reference, its delta and 95% paired
    CI; a delta green where the metric improved and red where it worsened."""
    df = pivoted.copy()
    names = task_names(df["task"])
    df["task"] = df["task"].map(names)
    df["metric"] = [f"{m} {dict(higher='↑', lower='↓').get(metric(m).better or '', '')}".strip()
                    for m in pivoted["metric"]]
    df = df.rename(columns={"context_length": "length"})
    numbers = [c for c in df.columns if c not in ("task", "length", "metric")]
    style = df.style.hide(axis="index").format(_num, subset=numbers, na_rep="—")

    def colour(row: pd.Series) -> list[str]:
        name = pivoted.loc[row.name, "metric"]
        out = []
        for c in row.index:
            moved = metric(name).improved(row[c]) if c.endswith(" delta") and pd.notna(row[c]) else None
            out.append("color: #1a7f37" if moved else "color: #cf222e" if moved is False else "")
        return out

    style = style.apply(colour, axis=1).set_table_attributes('class="data"')
    return f'<div class="wide">{_with_text_class(style, df, ("task", "metric")).to_html()}</div>'


def gates_table(records: list[dict]) -> str:
    df = pd.DataFrame([{"": "PASS" if r["passed"] else "FAIL", "results": r["results"], "gate": r["gate"],
                        "model spec": r["model_spec"], "observed": r["observed"], "required": r["required"],
                        "n": r["n"], "why": r["reason"]} for r in records])
    style = df.style.hide(axis="index").format(_num, subset=["observed"], na_rep="—")
    style = style.map(lambda v: "color: #1a7f37; font-weight: bold" if v == "PASS" else
                      "color: #cf222e; font-weight: bold" if v == "FAIL" else "", subset=[""])
    style = style.set_table_attributes('class="data"')
    return _with_text_class(style, df, ("", "results", "gate", "model spec", "required", "why")).to_html()


def _with_text_class(style, df: pd.DataFrame, text) -> object:
    cols = [c for c in text if c in df.columns]
    if cols:
        style = style.set_properties(subset=cols, **{"text-align": "left"})
    return style


def _num(x) -> str:
    if x is None or pd.isna(x):
        return "—"
    return f"{x:,.0f}" if 1e4 <= abs(x) < 1e15 else f"{x:.4g}"
