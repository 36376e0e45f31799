"""Task families (Python) and the task catalog (YAML files naming a family and its parameters)."""

from __future__ import annotations

from ..registry import Registry
from .base import Generate, LogLikelihood, Request, Rolling, Sample, TaskFamily

TASK_FAMILIES: Registry[type[TaskFamily]] = Registry(
    "task family",
    "tbench.tasks",
    builtin_modules=(
        "toroidal_bench.tasks.passkey",
        "toroidal_bench.tasks.niah",
        "toroidal_bench.tasks.ruler.niah",
        "toroidal_bench.tasks.ruler.variable_tracking",
        "toroidal_bench.tasks.ruler.common_words",
        "toroidal_bench.tasks.ruler.freq_words",
        "toroidal_bench.tasks.ruler.qa",
        "toroidal_bench.tasks.infinitebench",
        "toroidal_bench.tasks.longbench.v1",
        "toroidal_bench.tasks.periodic",
        "toroidal_bench.tasks.lm_eval_task",
        "toroidal_bench.tasks.perplexity",
        "toroidal_bench.tasks.scrolls.scrolls",
        "toroidal_bench.tasks.scrolls.zero_scrolls",
        "toroidal_bench.tasks.longbench.v2",
        "toroidal_bench.tasks.diagnostics",
        "toroidal_bench.tasks.profile",
    ),
)


def task_family(name: str):
    """Class decorator: register a TaskFamily subclass under `name`."""

    def decorator(cls: type[TaskFamily]) -> type[TaskFamily]:
        cls.name = name
        return TASK_FAMILIES.register(name)(cls)

    return decorator


__all__ = [
    "TASK_FAMILIES",
    "Generate",
    "LogLikelihood",
    "Request",
    "Rolling",
    "Sample",
    "TaskFamily",
    "task_family",
]
