"""Metric declarations: every built-in metric is declared once, with a direction and an aggregation."""

import math

import numpy as np
import pytest

from toroidal_bench.metrics import METRICS, metric
from toroidal_bench.tasks import TASK_FAMILIES


def test_every_metric_a_builtin_family_writes_is_declared():
    written = {m for name in TASK_FAMILIES.names() for m in TASK_FAMILIES.get(name).metrics}
    written |= {"judge_score"}  # niah adds it when a judge is configured
    assert written and written <= set(METRICS), sorted(written - set(METRICS))


def test_ratios_are_built_from_declared_counts_and_lower_is_better():
    for m in METRICS.values():
        if m.aggregation == "ratio":
            assert m.better == "lower"
            assert {m.numerator, m.denominator} <= set(METRICS)
            assert all(METRICS[i].aggregation == "sum" and METRICS[i].better is None for i in m.inputs)


def test_perplexity_weighs_documents_by_tokens_not_as_a_mean_of_perplexities():
    nll, tokens = np.array([10.0, 400.0]), np.array([10.0, 100.0])  # per-document perplexity e and e^4
    ppl = metric("perplexity").combine(nll, tokens)
    assert ppl == pytest.approx(math.exp(410 / 110))
    assert ppl != pytest.approx(np.mean(np.exp(nll / tokens)))
    assert metric("bits_per_byte").combine(nll, tokens) == pytest.approx(410 / 110 / math.log(2))
    assert metric("nll_per_token").combine(nll, tokens) == pytest.approx(410 / 110)


def test_combine_is_vectorised_over_resamples():
    values = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    assert list(metric("accuracy").combine(values, axis=-1)) == pytest.approx([2 / 3, 1 / 3])
    assert list(metric("tokens").combine(values, axis=-1)) == [2.0, 1.0]


def test_improvement_follows_the_direction():
    assert metric("perplexity").improved(-1.0) is True and metric("perplexity").improved(+1.0) is False
    assert metric("accuracy").improved(+0.1) is True and metric("accuracy").improved(-0.1) is False
    assert metric("tokens").improved(5.0) is None and metric("accuracy").improved(0.0) is None


def test_an_undeclared_metric_is_higher_is_better_and_averaged():
    m = metric("my_plugin_score")
    assert (m.better, m.aggregation, m.inputs) == ("higher", "mean", ("my_plugin_score",))
