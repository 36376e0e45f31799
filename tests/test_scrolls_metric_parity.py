"""SCROLLS and ZeroSCROLLS metrics reproduce the originals' values on their known-answer tables
(tests/parity/scrolls_tables.py says which code produced them and how to regenerate them)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from toroidal_bench.metrics import metric
from toroidal_bench.tasks.scrolls import metrics as m
from toroidal_bench.tasks.scrolls.family import rouge_scores

TABLES = Path(__file__).parent / "fixtures" / "parity" / "scrolls"
TOL = 1e-9


def table(name: str) -> list[dict]:
    with gzip.open(TABLES / f"{name}.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.mark.parametrize("name, fn", [
    ("scrolls_f1", m.f1),
    ("scrolls_exact_match", m.exact_match),
    ("zero_scrolls_f1", m.f1_ascii),
    ("zero_scrolls_accuracy", m.accuracy),
    ("zero_scrolls_exp_similarity", m.exp_similarity),
    ("zero_scrolls_concordance_index", m.concordance_index),
])
def test_per_sample_scores_match_the_original(name, fn):
    cases = table(name)
    assert len(cases) >= 1000
    wrong = [(c, fn(c["prediction"], c["references"])) for c in cases
             if abs(fn(c["prediction"], c["references"]) - c["expected"]) > TOL]
    assert not wrong, wrong[:3]


def test_rouge_matches_scrolls_per_sample():
    cases = table("scrolls_rouge")
    assert len(cases) >= 1000 and any(len(c["references"]) > 1 for c in cases)
    keys = {"rouge/rouge1": "rouge1", "rouge/rouge2": "rouge2", "rouge/rougeL": "rougeL",
            "rouge/geometric_mean": "geometric_mean"}
    for c in cases:
        got = rouge_scores(c["prediction"], c["references"])
        for ours, theirs in keys.items():
            assert got[ours] == pytest.approx(c["expected"][theirs], abs=TOL), (c, ours)


def test_the_task_figure_is_the_geometric_mean_of_the_means():
    per_sample = table("scrolls_rouge")
    groups = table("scrolls_geometric_mean")
    assert len(groups) >= 1000
    gm = metric("rouge/geometric_mean")
    for g in groups:
        columns = [np.array([per_sample[i]["expected"][t] for i in g["cases"]]) for t in ("rouge1", "rouge2", "rougeL")]
        assert gm.combine(*columns) == pytest.approx(g["expected"]["geometric_mean"], abs=TOL)
        for col, t in zip(columns, ("rouge1", "rouge2", "rougeL"), strict=True):
            assert metric(f"rouge/{t}").combine(col) == pytest.approx(g["expected"][t], abs=TOL)
    # and it is not the mean of the samples' own geometric means
    g = next(g for g in groups if len(set(g["cases"])) > 2)
    own = np.mean([per_sample[i]["expected"]["geometric_mean"] for i in g["cases"]])
    assert abs(own - g["expected"]["geometric_mean"]) > 1e-6


def test_tables_cover_the_hard_inputs():
    f1 = table("zero_scrolls_f1")
    assert any(c["prediction"] == "" for c in f1)
    assert any(any(ord(ch) > 0x3000 for ch in "".join(c["references"])) for c in f1)  # Chinese
    assert any(c["prediction"] != c["references"][0] and c["expected"] == 100.0 for c in f1)  # normalised equal
    assert any(0 < c["expected"] < 100 for c in table("scrolls_f1"))  # near misses
    assert any(len(c["prediction"].split()) > 150 for c in table("scrolls_rouge"))  # long texts
