"""compare and gate on perplexity rows: token-weighted aggregates, document bootstrap, lower is better."""

import math

import numpy as np
import pytest
from helpers import rows, write
from rich.console import Console

from toroidal_bench import results
from toroidal_bench.cli.compare import _rich_tables
from toroidal_bench.compare import compare
from toroidal_bench.gates import evaluate, parse_gates


def ppl_rows(spec, nll, tokens, task="wikitext2", length=1024, positions=()):
    """Per-document nll, tokens and perplexity rows, plus nll_per_token/nll/tokens rows per position bucket."""
    out = (rows(spec, task, length, "nll", nll) + rows(spec, task, length, "tokens", tokens)
           + rows(spec, task, length, "perplexity", [math.exp(a / b) for a, b in zip(nll, tokens, strict=True)]))
    for start, end, values in positions:
        for metric, vs in (("nll", values), ("tokens", [end - start] * len(values)),
                           ("nll_per_token", [v / (end - start) for v in values])):
            out += [dict(r, position=start, position_end=end) for r in rows(spec, task, length, metric, vs)]
    return out


def table(tmp_path, a, b):
    return compare([write(tmp_path / "base.parquet", a), write(tmp_path / "new.parquet", b)])


def test_perplexity_is_exp_of_total_nll_over_total_tokens(tmp_path):
    t = table(tmp_path, ppl_rows("m+rope", [100.0, 2000.0], [50, 500]), ppl_rows("m+tor", [90.0, 1900.0], [50, 500]))
    ref, new = (t[(t.metric == "perplexity") & (t.column == c)].iloc[0] for c in ("base", "new"))
    assert ref["value"] == pytest.approx(math.exp(2100 / 550))
    assert ref["value"] != pytest.approx(np.mean([math.exp(2), math.exp(4)]))  # not a mean of perplexities
    assert new["delta"] == pytest.approx(math.exp(1990 / 550) - math.exp(2100 / 550))
    assert (ref["better"], ref["aggregation"]) == ("lower", "ratio")
    # lower is better: both documents improved
    assert (new["wins"], new["losses"], new["paired"]) == (2, 0, 2)
    tokens = t[(t.metric == "tokens") & (t.column == "new")].iloc[0]
    assert tokens["value"] == 550 and np.isnan(tokens["wins"])  # a count: summed, no direction


def test_the_bootstrap_resamples_documents_and_recomputes_the_aggregate(tmp_path):
    # document 0 got much better, document 1 (ten times the tokens) a little worse
    t = table(tmp_path, ppl_rows("a", [100.0, 3000.0, 500.0], [50, 500, 100]),
              ppl_rows("b", [60.0, 3050.0, 480.0], [50, 500, 100]))
    new = t[(t.metric == "perplexity") & (t.column == "new")].iloc[0]
    single = [math.exp(b / n) - math.exp(a / n) for a, b, n in ((100, 60, 50), (3000, 3050, 500), (500, 480, 100))]
    assert min(single) <= new["ci_low"] <= new["delta"] <= new["ci_high"] <= max(single)
    per_doc_mean = np.mean(single)
    assert new["delta"] != pytest.approx(per_doc_mean)


def test_compare_tables_show_scores_oriented_and_positions_apart(tmp_path):
    buckets = [(1, 2, [3.0, 3.2]), (2, 4, [5.0, 5.4])]
    better = [(1, 2, [2.0, 2.2]), (2, 4, [6.0, 6.4])]
    t = table(tmp_path, ppl_rows("a", [100.0, 200.0], [50, 100], positions=buckets),
              ppl_rows("b", [80.0, 190.0], [50, 100], positions=better))
    console = Console(width=200, record=True, color_system="truecolor")
    for rendered in _rich_tables(t):
        console.print(rendered)
    text = console.export_text(clear=False)
    main, by_position = text.split("by position")
    assert "perplexity ↓" in main and "tokens" not in main and " nll " not in main  # counts stay out
    assert "[1, 2)" in by_position and "[2, 4)" in by_position and "nll_per_token ↓" in by_position
    html = console.export_html(inline_styles=True)
    drop = t[(t.metric == "perplexity") & (t.column == "new")].iloc[0]["delta"]
    assert drop < 0 and f"Δ {drop:+.4g}" in text
    # a falling perplexity is green, a rising NLL bucket is red
    assert html.count("color: #008000") >= 2 and "color: #800000" in html
    rise = t[(t.metric == "nll_per_token") & (t.position == 2) & (t.column == "new")].iloc[0]
    assert rise["delta"] == pytest.approx((6.0 + 6.4 - 5.0 - 5.4) / 4) and rise["losses"] == 2


def gates(*items):
    return parse_gates(list(items), "test")


def test_a_lower_is_better_gate_fails_when_perplexity_rises(tmp_path):
    base = results.read(write(tmp_path / "base.parquet", ppl_rows("m", [100.0, 200.0], [50, 100])))
    worse = results.read(write(tmp_path / "w.parquet", ppl_rows("m", [110.0, 215.0], [50, 100])))
    better = results.read(write(tmp_path / "b.parquet", ppl_rows("m", [95.0, 195.0], [50, 100])))
    g = gates({"task": "wikitext2", "metric": "perplexity", "max_drop": 0.5})
    (fail,) = evaluate(g, worse, base)
    assert not fail.passed and fail.observed == pytest.approx(math.exp(325 / 150))
    assert fail.threshold == pytest.approx(math.exp(2) + 0.5) and fail.reason.startswith("rose ")
    assert "rise ≤ 0.5" in fail.gate.describe()
    assert evaluate(g, better, base)[0].passed
    assert evaluate(gates({"task": "wikitext2", "metric": "perplexity", "op": "<=", "value": 7.5}), better)[0].passed


def test_a_perplexity_gate_without_the_sums_fails_rather_than_averaging(tmp_path):
    only = results.read(write(tmp_path / "r.parquet", rows("m", "periodic", 256, "perplexity", [3.0, 5.0])))
    (v,) = evaluate(gates({"task": "periodic", "metric": "perplexity", "op": "<=", "value": 10}), only)
    assert not v.passed and v.reason == "no nll and tokens rows to aggregate perplexity from"
