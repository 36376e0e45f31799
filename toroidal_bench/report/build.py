"""Build the report directory: figures and page drawn in a staging directory beside --out, then
moved into place with index.html last, so a failure never leaves a page that looks complete."""

from __future__ import annotations

import html
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from . import data, figures, page
from .page import Section


@dataclass
class Report:
    """What was written: the page, every figure file, and the notes of the sections left out."""

    index: Path
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    gates: list[dict] = field(default_factory=list)  # the gate records the page shows (Verdict.record)


def build(paths: list[Path], out: Path, suite: str | None = None, baseline: Path | None = None,
          profile: str | None = None, title: str = "tbench report") -> Report:
    """Write `out/index.html` and its figures from the results files `paths`. With `baseline`, that
    run is the reference column of the compare table (and a line in the figures) and the baseline of
    every max_drop gate; with `suite`, its gates (those of `profile`, where the suite has it) are
    checked on each results file."""
    if not paths:
        raise UsageError("give at least one results file")
    plt = figures.pyplot()
    sources = [Path(baseline)] if baseline is not None else []
    sources += [Path(p) for p in paths]
    runs = data.load(sources)
    out = Path(out)
    staging = _staging(out)
    try:
        gates = _gate_records([Path(p) for p in paths], suite, baseline, profile)
        sections = _sections(plt, runs, staging, gates, baseline)
        (staging / "index.html").write_text(page.page(title, [str(s) for s in sources], sections), encoding="utf-8")
        names = _publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    notes = [f"{s.title}: {s.note}" for s in sections if s.note and not s.body and not s.figures]
    return Report(out / "index.html", [out / n for n in names if n != "index.html"], notes,
                  gates[1] if gates else [])


def _staging(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file", "give a directory for the report")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        if out.exists():
            probe = out / f".{staging.name}.probe"  # an existing --out must take new files too
            probe.touch()
            probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write the report to {out}: {exc.strerror}", "choose a writable --out") from None
    return staging


def _publish(staging: Path, out: Path) -> list[str]:
    """Move the staged files into `out`; index.html goes last, and an earlier index.html is removed
    first, so `out` never shows a page whose figures are not all there."""
    names = sorted(p.name for p in staging.iterdir())
    try:
        if not out.exists():
            os.replace(staging, out)
            return names
        stale = _figures_of(out / "index.html")
        (out / "index.html").unlink(missing_ok=True)
        for name in stale - set(names):
            (out / name).unlink(missing_ok=True)
        for name in names:
            if name != "index.html":
                os.replace(staging / name, out / name)
        os.replace(staging / "index.html", out / "index.html")
    except OSError as exc:
        raise UsageError(f"cannot write the report to {out}: {exc.strerror}", "choose a writable --out") from None
    return names


def _figures_of(index: Path) -> set[str]:
    """The figure files an earlier report's page in this directory refers to (none when the page is
    not one of ours): a new report removes them, so figures of data no longer given do not linger."""
    try:
        text = index.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return set()
    if f'<meta name="generator" content="{page.GENERATOR}">' not in text:
        return set()
    names = {html.unescape(n) for n in re.findall(r'(?:src|href)="([^"#/:]+\.(?:png|svg))"', text)}
    return {n for n in names if (index.parent / n).is_file()}


def _sections(plt, runs: data.Runs, staging: Path, gates: tuple[str, list[dict]] | None,
              baseline: Path | None) -> list[Section]:
    return [_heatmaps(plt, runs, staging), _scores(plt, runs, staging), _positions(plt, runs, staging),
            _compare(runs), _seeds(runs), _gates(gates), _cost(runs), _run(runs)]


def _heatmaps(plt, runs: data.Runs, out: Path) -> Section:
    section = Section("niah", "Needle depth × context length")
    grids = data.heatmaps(runs)
    if not grids:
        section.note = "No rows with a needle depth (niah, passkey, RULER niah_*, ...): no heat map."
    section.figures = [figures.heatmap(plt, out, task, spec, name, grid) for task, spec, name, grid in grids]
    return section


def _scores(plt, runs: data.Runs, out: Path) -> Section:
    section = Section("scores", "Score vs context length")
    curves = data.score_curves(runs)
    colour = figures.colours(plt, data.ordered_series(runs.rows))
    section.figures = [figures.score_vs_length(plt, out, task, name, curve, colour) for task, name, curve in curves]
    single = sorted(t for t, n in data.lengths_of(runs).items() if n < 2)
    if not curves:
        section.note = "No task was run at two or more context lengths: no curve (see the compare table)."
    elif single:
        section.note = f"At one context length only, so without a curve: {', '.join(single)}."
    return section


def _positions(plt, runs: data.Runs, out: Path) -> Section:
    section = Section("positions", "NLL vs token position")
    curves = data.position_curves(runs)
    if not curves:
        section.note = "No rows by token position (perplexity tasks write them as nll_per_token): no curve."
    colour = figures.colours(plt, data.ordered_series(runs.rows))
    section.figures = [figures.nll_vs_position(plt, out, task, name, curve, colour) for task, name, curve in curves]
    return section


def _compare(runs: data.Runs) -> Section:
    from ..compare import compare, headings, pivot

    section = Section("compare", "Compare")
    table = compare(runs.paths)
    whole = table[table["position"].isna()]
    whole.attrs = dict(table.attrs)
    if whole.empty:
        section.note = "No whole-sample rows to compare (only rows by position; see the figure above)."
        return section
    heads = headings(table)
    section.body = (f"<p>The first model spec (<code>{html.escape(heads[0])}</code>) is the reference; "
                    "each other spec has its value, its difference from the reference (delta) and the 95% "
                    "paired-bootstrap CI of that difference over matching samples (as <code>tbench compare"
                    "</code>). By-position metrics are in the figure above.</p>"
                    + page.compare_table(pivot(whole), heads))
    return section


def _seeds(runs: data.Runs) -> Section:
    section = Section("seeds", "Variance over seeds")
    spread = data.seed_spread(runs)
    if spread.empty:
        section.note = "No cell was run at more than one seed (a suite's `seeds:` list does that)."
        return section
    section.body = ("<p>The headline metric at each seed (each seed draws other samples: needles, keys, "
                    "haystack positions), their mean and standard deviation.</p>"
                    + page.table(spread, text=("model spec", "task", "metric", "per seed")))
    return section


def _gate_records(paths: list[Path], suite: str | None, baseline: Path | None,
                  profile: str | None) -> tuple[str, list[dict]] | None:
    """(suite name, a record per gate, spec and results file), or None without a suite. With
    `profile`, the gates of that profile where the suite declares it."""
    if suite is None:
        return None
    from ..gates import check
    from ..suites.plan import phase_suite

    s = phase_suite(suite, profile)
    return s.name, [dict(v.record(), results=str(p)) for p in paths for v in (check(s.gates, p, baseline)
                                                                               if s.gates else [])]


def _gates(gates: tuple[str, list[dict]] | None) -> Section:
    section = Section("gates", "Gates")
    if gates is None:
        section.note = "No --suite given: gates not checked."
        return section
    name, records = gates
    if not records:
        section.note = f"Suite {name} declares no gates."
        return section
    passed = sum(r["passed"] for r in records)
    section.body = (f"<p>Suite <code>{html.escape(name)}</code>: {passed} of {len(records)} passed "
                    "(as <code>tbench gate</code> checks them).</p>" + page.gates_table(records))
    return section


def _cost(runs: data.Runs) -> Section:
    section = Section("cost", "Cost")
    speed, peak = data.cost(runs), data.peak_memory(runs)
    parts = []
    if not speed.empty:
        parts.append("<p>Prompt tokens per second of model time (Σ prompt tokens ÷ Σ per-sample latency, "
                     "which is a batch's time divided among its samples).</p>"
                     + page.table(speed, text=("model spec", "task")))
    if not peak.empty:
        parts.append(page.table(peak, text=("model spec", "task")))
    missing = [what for what, frame in (("latency", speed), ("peak memory", peak)) if frame.empty]
    if missing:
        section.note = f"Not recorded in these results: {' and '.join(missing)}."
    section.body = "\n".join(parts)
    return section


def _run(runs: data.Runs) -> Section:
    section = Section("run", "Runs")
    meta = data.run_table(runs)
    if meta.empty:
        section.note = "The results files hold no run metadata."
        return section
    section.body = page.table(meta.rename_axis("").reset_index(), text=tuple(meta.columns) + ("",))
    return section
