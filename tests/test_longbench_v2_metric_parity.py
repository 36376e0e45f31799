"""LongBench v2 scoring against the original: pred.py's extract_answer on 2,000 drawn outputs and
result.py's table on 60 results files, known answers from tests/parity/longbench_v2_tables.py."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from toroidal_bench.metrics import metric
from toroidal_bench.tasks.base import Generate, Sample
from toroidal_bench.tasks.catalog import get_task
from toroidal_bench.tasks.longbench.v2 import extract_answer

TABLES = Path(__file__).resolve().parent / "fixtures" / "parity" / "longbench_v2"
COLUMNS = {"Overall": "accuracy", "Easy": "accuracy_easy", "Hard": "accuracy_hard", "Short": "accuracy_short",
           "Medium": "accuracy_medium", "Long": "accuracy_long"}


def cases(name: str) -> list[dict]:
    with gzip.open(TABLES / name, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def test_extract_answer_agrees_with_pred_py_on_every_output():
    table = cases("extract_answer.jsonl.gz")
    assert len(table) >= 1000
    assert {c["expected"] for c in table} == {"A", "B", "C", "D", None}
    wrong = [c for c in table if extract_answer(c["output"].strip()) != c["expected"]]
    assert not wrong, wrong[:3]


@pytest.fixture(scope="module")
def family():
    return get_task("longbench_v2").build()


def test_per_class_means_are_result_py_table(family):
    tables = cases("result_table.jsonl.gz")
    assert len(tables) >= 50 and sum(len(t["records"]) for t in tables) >= 1000
    for t in tables:
        values: dict[str, list[float]] = {}
        for i, r in enumerate(t["records"]):
            sample = Sample(id=str(i), request=Generate((1,), 128), reference=r["answer"], prompt="",
                            meta={"difficulty": r["difficulty"], "length_class": r["length"]})
            for name, value in family.score(sample, r["output"]).items():
                values.setdefault(name, []).append(value)
        ours = {column: round(float(metric(name).combine(np.array(values[name]))), 1)
                for column, name in COLUMNS.items()}
        assert ours == t["expected"]
