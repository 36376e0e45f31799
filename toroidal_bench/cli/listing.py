"""`tbench list tasks|encodings|suites|models` — instant: nothing here imports torch."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from .errors import handles_errors
from .output import console


class Kind(str, enum.Enum):
    tasks = "tasks"
    encodings = "encodings"
    suites = "suites"
    models = "models"


@handles_errors
def list_things(kind: Annotated[Kind, typer.Argument(help="What to list.")]) -> None:
    """List registered tasks, encodings, suites or embedded models."""
    from rich.table import Table

    t = Table(title=kind.value)
    if kind is Kind.tasks:
        from ..tasks.catalog import list_tasks

        for c in ("task", "family", "description"):
            t.add_column(c)
        for task in list_tasks():
            t.add_row(task.name, task.family, task.description)
    elif kind is Kind.encodings:
        from ..encodings import ENCODINGS

        for c in ("encoding", "arguments (defaults)", "architectures"):
            t.add_column(c)
        for name, cls in ENCODINGS.items():
            t.add_row(name, _arguments(cls), ", ".join(sorted(cls.architectures)))
    elif kind is Kind.suites:
        from ..suites import load_plan, load_suite, suite_files

        for c in ("suite", "models × tasks × lengths", "gates", "description"):
            t.add_column(c)
        for name in suite_files():
            plan = load_plan(name)
            if plan is not None:
                what = f"trains {plan.train['model']}" if plan.train else f"reads {', '.join(plan.phases)}"
                t.add_row(name, what, "", plan.description)
                continue
            s = load_suite(name)
            t.add_row(name, f"{len(s.models)} × {len(s.tasks)} × {len(s.lengths)}", str(len(s.gates)), s.description)
    else:
        from ..models import reference
        from ..models.random_models import CONFIGS

        t.add_column("model", no_wrap=True)  # the spec to copy: never cut
        for c in ("architecture / encoding", "shape / train length", "params", "size"):
            t.add_column(c, overflow="fold")
        for name in reference.names():
            ref = reference.info(name)
            size = f"{ref.size_bytes / 1e6:.1f} MB" if ref.built else "not built"
            params = f"{ref.parameters / 1e6:.2f}M" if ref.parameters else "—"
            base, _, encoding = ref.spec.partition("+")
            t.add_row(f"ref:{name}", encoding or f"{base} (own RoPE)", f"{ref.train_length} tokens", params, size)
        for name, (arch, cfg) in CONFIGS.items():
            shape = f"{cfg['num_hidden_layers']} layers, hidden {cfg['hidden_size']}, {cfg['num_attention_heads']} heads"
            t.add_row(f"random:{name}", arch, shape, "", "")
        t.caption = ("also: hf:<hub id> (from the local HF cache when offline), local:<directory>; "
                     f"build a ref model with: {reference.build_command('NAME')}")
    console.print(t)


def _arguments(cls) -> str:
    import dataclasses

    key_of = {v: k for k, v in cls.aliases.items()}
    parts = [f"{key_of.get(f.name, f.name)}={f.default}" for f in dataclasses.fields(cls)]
    return ", ".join(parts) or "—"
