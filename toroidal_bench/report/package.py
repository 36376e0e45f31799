"""A plan's results package: one report per phase, each with that phase's gates, in `out/<phase>/`,
and `out/index.html` listing the phases, their results files and gate tallies, linking each report.
A phase without results is listed as such; the package is never built on nothing."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from . import page
from .build import build
from .page import Section


@dataclass(frozen=True)
class PackedPhase:
    phase: str
    results: Path | None
    passed: int = 0
    gates: int = 0
    note: str = ""


def package(files: dict[str, Path | None], out: Path, profile: str | None = None) -> list[PackedPhase]:
    """Build the phase reports and the index page; returns what each phase contributed."""
    if not any(files.values()):
        raise UsageError("no phase has results to package",
                         f"run the phases first (tbench run suite {next(iter(files))} ...), or map them in 'results:'")
    out.mkdir(parents=True, exist_ok=True)
    packed = []
    for phase, path in files.items():
        if path is None:
            packed.append(PackedPhase(phase, None, note="no results"))
            continue
        report = build([path], out / phase, suite=phase, profile=profile, title=f"tbench report: {phase}")
        packed.append(PackedPhase(phase, path, sum(r["passed"] for r in report.gates), len(report.gates)))
    (out / "index.html").write_text(_index(packed), encoding="utf-8")
    return packed


def _index(packed: list[PackedPhase]) -> str:
    def cell(text: str, link: str | None = None) -> str:
        inner = html.escape(text)
        return f'<td class="text"><a href="{html.escape(link)}">{inner}</a></td>' if link else f'<td class="text">{inner}</td>'

    rows = []
    for p in packed:
        link = f"{p.phase}/index.html" if p.results else None
        tally = f"{p.passed} of {p.gates}" if p.gates else ("no gates" if p.results else "—")
        rows.append("<tr>" + cell(p.phase, link) + cell(str(p.results) if p.results else p.note) + cell(tally) + "</tr>")
    head = "<tr><th>phase</th><th>results</th><th>gates passed</th></tr>"
    section = Section("phases", "Phases")
    section.body = ("<p>One report per phase, each checking that phase's own gates.</p>"
                    f'<div class="wide"><table class="data"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div>')
    return page.page("tbench results package", [str(p.results) for p in packed if p.results], [section])
