"""`tbench gate RESULTS --suite NAME`: exit 0 when every gate passes, 1 when one fails."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .errors import EXIT_GATE, handles_errors
from .output import GATE_FORMATS, console, markdown, pick_format


@handles_errors
def gate(
    results_file: Annotated[Path, typer.Argument(help="Results file to check.")],
    suite: Annotated[str, typer.Option("--suite", "-s", help="Suite whose gates to check (name or YAML path).")],
    baseline: Annotated[Path | None, typer.Option(
        "--baseline", help="Baseline results for every max_drop gate (default: each gate's baseline:).")] = None,
    fmt: Annotated[str, typer.Option(
        "--format", "-f", metavar="FORMAT",
        help="table (rich, wraps to the terminal), junit (JUnit XML for CI test panes), json, or markdown "
             "(e.g. for $GITHUB_STEP_SUMMARY).")] = "table",
    profile: Annotated[str | None, typer.Option(
        "--profile", help="The suite profile the results were run with (its gates may differ).")] = None,
) -> None:
    """Check a suite's gates against a results file, one verdict per gate and model spec. A gate never
    passes on missing data: no matching rows, rows from failed cells, or no baseline all fail it."""
    from ..suites import load_suite

    fmt = pick_format(fmt, GATE_FORMATS)
    s = load_suite(suite, profile=profile)
    if not check_and_render(s.gates, results_file, baseline, fmt, suite=s.name):
        raise typer.Exit(EXIT_GATE)


def check_and_render(gates, results_file: Path, baseline: Path | None, fmt: str = "table",
                     suite: str = "gates") -> bool:
    """Check `gates` on `results_file`, print the verdicts in `fmt`; True when every gate passed."""
    from ..gates import check

    verdicts = check(gates, results_file, baseline)
    if fmt == "table":
        console.print(_table(verdicts, results_file))
    elif fmt == "markdown":
        print(_markdown(verdicts, results_file))
    elif fmt == "json":
        import json

        print(json.dumps({"results": str(results_file), "suite": suite, "passed": all(v.passed for v in verdicts),
                          "verdicts": [v.record() for v in verdicts]}, indent=2, ensure_ascii=False))
    else:
        print(junit(verdicts, results_file, suite))
    return all(v.passed for v in verdicts)


def _table(verdicts, results_file: Path):
    """Each gate's full text, under it one entry per model spec: PASS/FAIL, the spec on a line of its
    own, then observed, required and n (and why it failed). Nothing is cut: on a narrow console a
    line too long wraps, and a spec is never squeezed into a column beside other values."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    passed = sum(v.passed for v in verdicts)
    parts: list = [Text.from_markup(f"[bold]gates[/] · {escape(str(results_file))}")]
    grid = None
    last = None
    for v in verdicts:
        if v.gate is not last:
            grid = Table.grid(padding=(0, 1))
            grid.add_column(no_wrap=True)
            grid.add_column(overflow="fold")
            parts += [Text.from_markup(f"[bold]{escape(v.gate.describe())}[/]"), grid]
            last = v.gate
        tag = "[green]PASS[/]" if v.passed else "[bold red]FAIL[/]"
        facts = f"observed {_observed(v)} · required {escape(v.required())} · n {v.n}"
        why = "" if not v.reason else f"\n[dim]{escape(v.reason)}[/]" if v.passed else f"\n{escape(v.reason)}"
        grid.add_row(f"  {tag}", f"{escape(v.model_spec)}\n{facts}{why}")
    colour = "green" if passed == len(verdicts) else "red"
    parts.append(Text.from_markup(f"[{colour}]{passed} of {len(verdicts)} passed[/]"))
    return Group(*parts)


def _observed(v) -> str:
    text = _num(v.observed)
    if v.ci is not None and v.baseline is not None:  # the CI of the value: baseline + CI of the change
        low, high = (round(v.baseline + c, 12) + 0.0 for c in v.ci)  # no float noise (-0, 1e-17)
        text += f" [dim](CI {low:.3g} to {high:.3g})[/]"
    return text


def _markdown(verdicts, results_file: Path) -> str:
    import pandas as pd

    rows = [{"": "✅" if v.passed else "❌", "gate": v.gate.describe(), "model spec": f"`{v.model_spec}`",
             "observed": _num(v.observed), "required": v.required(), "n": v.n,
             "verdict": ("PASS" if v.passed else "FAIL") + (f": {v.reason}" if v.reason else "")} for v in verdicts]
    passed = sum(v.passed for v in verdicts)
    head = f"**gates** · `{results_file}` · {passed} of {len(verdicts)} passed"
    return head + "\n\n" + markdown(pd.DataFrame(rows), left=("", "gate", "model spec", "verdict"))


def junit(verdicts, results_file: Path, suite: str) -> str:
    """JUnit XML: one <testcase> per gate and model spec, a <failure> with the observed and required
    values for each that failed."""
    import xml.etree.ElementTree as ET

    failures = sum(not v.passed for v in verdicts)
    counts = {"tests": str(len(verdicts)), "failures": str(failures), "errors": "0", "skipped": "0"}
    root = ET.Element("testsuites", name="tbench gate", **counts)
    suite_el = ET.SubElement(root, "testsuite", name=suite, **counts)
    props = ET.SubElement(suite_el, "properties")
    ET.SubElement(props, "property", name="results", value=str(results_file))
    for v in verdicts:
        case = ET.SubElement(suite_el, "testcase", classname=f"tbench.gate.{suite}",
                             name=f"{v.gate.describe()} · {v.model_spec}", time="0")
        detail = (f"gate: {v.gate.describe()}\nmodel spec: {v.model_spec}\nobserved: {_num(v.observed)}"
                  f"\nrequired: {v.required()}\nn: {v.n}")
        if v.baseline is not None:
            detail += f"\nbaseline: {_num(v.baseline)}"
        if v.ci is not None:
            detail += f"\nCI of observed − baseline: [{v.ci[0]:.4g}, {v.ci[1]:.4g}]"
        if not v.passed:
            message = f"observed {_num(v.observed)}, required {v.required()}" + (f": {v.reason}" if v.reason else "")
            ET.SubElement(case, "failure", message=message, type="GateFailed").text = detail
        else:
            ET.SubElement(case, "system-out").text = detail + (f"\nnote: {v.reason}" if v.reason else "")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _num(x) -> str:
    return "—" if x is None else f"{x:.4g}"
