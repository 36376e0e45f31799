"""`tbench diagnose ENCODING_SPEC --length N`: collision, spectral, attention and profile analyses.

Registered by the app as `app.command("diagnose")(diagnose)`. Parses, calls
`toroidal_bench.diagnostics.report`, renders rich tables to stdout, writes files under --out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..errors import UsageError
from .errors import handles_errors
from .output import console, err_console

_FMT = {float: "{:.4g}", int: "{:d}"}
_COLUMNS = {
    "collision": ["encoding", "length", "method", "min_distance", "min_at_delta", "adjacent", "min_far",
                  "p01", "p50", "near_collisions", "max_far_kernel"],
    "spectral": ["encoding", "length", "longest_wavelength", "shortest_wavelength", "octaves", "entropy", "lines"],
    "toroidal": ["delta", "depth_offset", "period", "distance", "bias"],
    "attention": ["layer", "head", "entropy", "mean_distance", "slot_mass"],
    "profile": ["kind", "length", "seconds", "tokens_per_s", "state_bytes", "peak_bytes", "device"],
    "streaming": ["window", "step", "kv_bytes", "attractor_bytes", "total"],
}


@handles_errors
def diagnose(
    encoding_spec: Annotated[str, typer.Argument(
        help="Encoding to analyse, e.g. 'pi-spiral(const=pi)', 'hybrid(switch=4096,width=512)', "
             "'attractor(layers=1)'; chains with '+' as in model specs.")],
    length: Annotated[list[int], typer.Option(
        "--length", "-n", help="Number of positions N (repeat for several).")] = [4096],  # noqa: B006
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for diagnose.json/.parquet and PNGs.")]
        = Path("diagnose-out"),
    model: Annotated[str, typer.Option("--model", "-m", help="Model spec for attention maps and profiling.")]
        = "random:llama-tiny",
    analysis: Annotated[list[str], typer.Option(
        "--analysis", "-a", help="collision, spectral, toroidal, attention, profile (repeat; default: all).")]
        = [],  # noqa: B006
    rot_dim: Annotated[int | None, typer.Option(
        help="Rotated dims for collision/spectral (default: the model's); e.g. 128 for Llama/Qwen.")] = None,
    base: Annotated[float | None, typer.Option(help="RoPE base for the ladder (default: the model's).")] = None,
    compare: Annotated[bool, typer.Option(
        help="Also analyse RoPE, every constant, prng, a hybrid and the public single frequency.")] = True,
    text: Annotated[str | None, typer.Option(help="Input text for the attention maps.")] = None,
    plots: Annotated[bool, typer.Option(help="Write PNG figures (needs the 'plots' extra).")] = True,
) -> None:
    """Collision and spectral analysis of an encoding's angles, attention maps and a memory/throughput
    profile; tables on stdout, JSON + Parquet + PNG under --out."""
    from ..diagnostics import report as rep

    analyses = tuple(analysis) or rep.ANALYSES
    if rot_dim is not None and (rot_dim < 2 or rot_dim % 2):
        raise UsageError(f"--rot-dim must be an even number ≥ 2, got {rot_dim}")
    result = rep.diagnose(encoding_spec, list(length), model=model, analyses=analyses, compare=compare,
                          rot_dim=rot_dim, base=base, text=text)
    for note in result.notes:
        err_console.print(f"[yellow]{note}[/yellow]", highlight=False)
    for section, rows in result.sections.items():
        if section == "streaming":  # every 8th point on screen; all of them in the files
            rows = [r for i, r in enumerate(rows) if i % 8 == 7]
        console.print(_table(section, rows))
    paths = rep.write(result, out, figures=plots)
    if plots and not any(p.suffix == ".png" for p in paths):
        err_console.print("[yellow]no figures: install the 'plots' extra (matplotlib)[/yellow]")
    for p in paths:
        err_console.print(f"wrote {p}", highlight=False)


_SHORT = {"min_distance": "min d", "min_at_delta": "at Δ", "adjacent": "d(Δ=1)", "min_far": "min d far",
          "near_collisions": "near", "max_far_kernel": "max K far", "longest_wavelength": "longest λ",
          "shortest_wavelength": "shortest λ", "mean_distance": "mean dist", "tokens_per_s": "tok/s",
          "state_bytes": "state B", "peak_bytes": "peak B", "attractor_bytes": "attractor B", "kv_bytes": "kv B",
          "depth_offset": "Δ platter", "delta": "Δ token"}


def _table(section: str, rows: list[dict]) -> Table:
    cols = [c for c in _COLUMNS.get(section, list(rows[0])) if any(c in r for r in rows)]
    labels = sorted({r["encoding"] for r in rows if "encoding" in r and "encoding" not in cols})
    table = Table(title=f"{section}: {', '.join(labels)}" if labels else section)
    for c in cols:
        left = c in ("encoding", "method", "kind", "device")
        table.add_column(_SHORT.get(c, c), justify="left" if left else "right", overflow="fold")
    for r in rows:
        table.add_row(*[_cell(r.get(c)) for c in cols])
    return table


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
