"""`lm-eval:<task>`: an lm-evaluation-harness task, run by lm-eval itself, stored as tbench rows.

The family drives the runner it is given (no second model load): it wraps it in the `tbench` lm-eval
model with max_length = the cell's context length, runs `lm_eval.simple_evaluate` with
`log_samples=True`, and turns every logged sample into a (Sample, output, scores) triple (see
integrations/lm_eval_rows.py for what maps to what). Documents count as finished samples for the
progress bar as their requests finish.

Parameters (YAML data or `lm-eval:<task>` on the command line):
  task          an lm-eval task, group or tag name, or the path of a task YAML file
  include_path  optional directory (or list) of extra lm-eval task YAMLs, as lm-eval's --include_path
  num_fewshot   optional; overrides the task's own default, as lm-eval's --num_fewshot

The tbench seed seeds lm-eval's python/numpy/torch RNGs and its few-shot sampler (a stock lm-eval
run uses 0 / 1234 / 1234 / 1234: pass --seed 1234 to draw the same few-shot examples).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import UsageError, did_you_mean
from . import task_family
from .base import Sample, TaskFamily

_PARAMS = ("task", "include_path", "num_fewshot")


@task_family("lm-eval")
class LmEvalTask(TaskFamily):
    version = "1"
    metrics = ()  # named by lm-eval when it runs

    def __init__(self, **params: Any):
        super().__init__(**params)
        unknown = sorted(set(params) - set(_PARAMS))
        if unknown:
            raise UsageError(f"lm-eval tasks take no parameter(s) {', '.join(unknown)}",
                             f"valid parameters: {', '.join(_PARAMS)}")
        if not str(params.get("task") or "").strip():
            raise UsageError("an lm-eval task needs a task name", "e.g. lm-eval:wikitext or lm-eval:path/to/task.yaml")
        fewshot = params.get("num_fewshot")
        if fewshot is not None and (not isinstance(fewshot, int) or isinstance(fewshot, bool) or fewshot < 0):
            raise UsageError(f"num_fewshot must be a non-negative integer, got {fewshot!r}")
        from ..integrations import require_lm_eval

        require_lm_eval()
        resolve_task(str(params["task"]), _paths(params.get("include_path")))  # typos fail before a model loads

    def evaluate(self, runner: Any, length: int, seed: int, limit: int | None,
                 progress: Callable[[int], None] | None = None) -> Iterable[tuple[Sample, Any, dict]]:
        from lm_eval import simple_evaluate

        from ..integrations.lm_eval_model import TbenchLM
        from ..integrations.lm_eval_rows import check_scored, triples

        name = str(self.params["task"])
        manager, spec = resolve_task(name, _paths(self.params.get("include_path")))
        counting = _DocProgress(runner, progress or (lambda n: None))
        lm = TbenchLM(runner=counting, max_length=length, record_requests=True)
        counting.docs_seen = lambda: len(lm.sent)
        fewshot = self.params.get("num_fewshot")
        out = simple_evaluate(
            model=lm, tasks=[spec], task_manager=manager, limit=limit, log_samples=True, bootstrap_iters=0,
            num_fewshot=fewshot,
            random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed, fewshot_random_seed=seed,
        )
        rows = list(triples(out["samples"], lm.sent))
        check_scored(name, rows)
        counting.finish(len(rows))
        return rows


class _DocProgress:
    """The runner as the lm-eval model sees it, reporting finished documents (tbench's samples).

    lm-eval sends all requests of one kind at once, several per document (one per choice); the
    model records each document before passing its requests on, so a call's new documents are known
    and are reported in proportion to its finished requests."""

    def __init__(self, runner: Any, progress: Callable[[int], None]):
        self._runner, self._progress = runner, progress
        self.docs_seen: Callable[[], int] = lambda: 0
        self._reported = 0

    def __getattr__(self, name: str) -> Any:  # tokenizer, device, spec, ...: the runner's own
        if name.startswith("_"):  # never the proxy's own state (copy and pickle probe before __init__)
            raise AttributeError(name)
        return getattr(self._runner, name)

    def loglikelihood(self, requests, progress=None):
        return self._runner.loglikelihood(requests, progress=self._call(len(requests)))

    def generate(self, requests, progress=None):
        return self._runner.generate(requests, progress=self._call(len(requests)))

    def rolling_loglikelihood(self, requests, stride=None, progress=None):
        return self._runner.rolling_loglikelihood(requests, stride=stride, progress=self._call(len(requests)))

    def finish(self, docs: int) -> None:
        """Report whatever the calls did not (documents lm-eval scored without a recorded request)."""
        self._report(docs)

    def _call(self, n_requests: int) -> Callable[[int], None]:
        start, finished = self._reported, 0
        new_docs = self.docs_seen() - start

        def advance(n: int) -> None:
            nonlocal finished
            finished = min(n_requests, finished + n)
            self._report(start + new_docs * finished // max(1, n_requests))

        return advance

    def _report(self, docs: int) -> None:
        if docs > self._reported:
            self._progress(docs - self._reported)
            self._reported = docs


def resolve_task(name: str, include: tuple[str, ...]) -> tuple[Any, str]:
    """(an lm-eval TaskManager that knows `name`, what to pass to simple_evaluate's `tasks`)."""
    if name.endswith((".yaml", ".yml")):
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"no lm-eval task file at {name}")
        return _manager(include, defaults=False), str(path.resolve())
    if include:  # lm-eval's own index takes seconds to build; skip it when include_path has the task
        local = _manager(include, defaults=False)
        if name in local.all_tasks:
            return local, name
    manager = _manager(include, defaults=True)
    if name not in manager.all_tasks:
        close = did_you_mean(name, manager.all_tasks)
        raise UsageError(f"unknown lm-eval task '{name}'",
                         f"did you mean '{close}'?" if close else "`lm_eval ls tasks` lists them")
    return manager, name


@lru_cache(maxsize=8)
def _manager(include: tuple[str, ...], defaults: bool):
    from lm_eval.tasks import TaskManager

    for p in include:
        if not Path(p).is_dir():
            raise UsageError(f"include_path '{p}' is not a directory")
    return TaskManager(include_path=list(include) or None, include_defaults=defaults)


def _paths(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    values = [value] if isinstance(value, str | Path) else list(value)
    return tuple(str(Path(v).resolve()) for v in values)
