"""Samples of the next cell built on a worker thread (tasks/prefetch.py) are the cell's own samples."""

import threading

import pandas as pd
import pytest

from tests.tasks_tokenizers import byte_level
from toroidal_bench import evaluate, results
from toroidal_bench.evaluate import RunOptions, run_cells
from toroidal_bench.suites import expand
from toroidal_bench.tasks import cache
from toroidal_bench.tasks.prefetch import Prefetcher

SPEC = "random:llama-tiny"


def _cells(tasks=("niah_single_1", "vt"), lengths=(1024, 1280)):
    return expand([SPEC], list(tasks), list(lengths), limit=2)


def _recording(calls):
    def build(task, family, tokenizer, length, seed, limit):
        calls.append((task, length, threading.current_thread().name, tokenizer))
        return cache.cached_samples(task, family, tokenizer, length, seed, limit)
    return build


def test_a_prefetched_cell_gets_the_samples_built_on_demand():
    tok, calls = byte_level(), []
    first, second = _cells(tasks=("niah_single_1",))
    with Prefetcher(tok, build=_recording(calls)) as prefetch:
        prefetch.ahead(second)
        ahead = prefetch.samples(second, second.task.build())
        here = prefetch.samples(first, first.task.build())
    assert [(task, length) for task, length, _, _ in calls] == [("niah_single_1", 1280), ("niah_single_1", 1024)]
    (_, _, worker, worker_tok), (_, _, main, main_tok) = calls
    assert worker.startswith("tbench-samples") and main == threading.current_thread().name
    assert worker_tok is not tok and main_tok is tok  # fast tokenizers must not be shared between threads
    assert ahead == cache.cached_samples("niah_single_1", second.task.build(), tok, 1280, 0, 2)
    assert here == cache.cached_samples("niah_single_1", first.task.build(), tok, 1024, 0, 2)


def test_an_error_while_prefetching_is_raised_for_its_cell_only():
    def broken(task, family, tokenizer, length, seed, limit):
        if length == 1280:
            raise ValueError("no haystack")
        return cache.cached_samples(task, family, tokenizer, length, seed, limit)

    first, second = _cells(tasks=("niah_single_1",))
    with Prefetcher(byte_level(), build=broken) as prefetch:
        prefetch.ahead(second)
        assert len(prefetch.samples(first, first.task.build())) == 2
        with pytest.raises(ValueError, match="no haystack"):
            prefetch.samples(second, second.task.build())


def test_a_run_builds_each_later_cell_ahead_and_writes_the_same_rows(tmp_path, monkeypatch):
    cells = _cells()
    plain = tmp_path / "plain.parquet"
    monkeypatch.setattr(evaluate.Prefetcher, "ahead", lambda self, cell: None)
    run_cells(cells, RunOptions(out=plain))
    monkeypatch.undo()

    calls = []
    real_init = evaluate.Prefetcher.__init__
    monkeypatch.setattr(evaluate.Prefetcher, "__init__",
                        lambda self, tok, build=None: real_init(self, tok, build=_recording(calls)))
    ahead = tmp_path / "ahead.parquet"
    run_cells(cells, RunOptions(out=ahead))
    on_worker = {(task, length): name.startswith("tbench-samples") for task, length, name, _ in calls}
    assert len(calls) == len(cells)
    assert [on_worker[c.task.name, c.length] for c in cells] == [False] + [True] * (len(cells) - 1)
    columns = ["cell_id", "sample_id", "metric", "value", "prediction", "prompt_hash"]
    table = lambda path: results.read(path)[columns].sort_values(columns[:3]).reset_index(drop=True)  # noqa: E731
    assert table(ahead).equals(table(plain))


def test_a_cell_whose_prefetch_fails_records_its_error_and_the_run_goes_on(tmp_path, monkeypatch):
    def broken(task, family, tokenizer, length, seed, limit):
        if task == "vt":
            raise RuntimeError("the variables ran out")
        return cache.cached_samples(task, family, tokenizer, length, seed, limit)

    real_init = evaluate.Prefetcher.__init__
    monkeypatch.setattr(evaluate.Prefetcher, "__init__", lambda self, tok, build=None: real_init(self, tok, build=broken))
    out = tmp_path / "r.parquet"
    summary = run_cells(_cells(), RunOptions(out=out))
    frame = results.read(out)
    errors = frame.groupby("task")["error"].first()
    assert "the variables ran out" in errors["vt"] and pd.isna(errors["niah_single_1"])
    assert sorted(summary.failed) == sorted(c.cell_id for c in _cells() if c.task.name == "vt")
