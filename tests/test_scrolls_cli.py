"""SCROLLS and ZeroSCROLLS through the CLI: missing data refused before a model loads; a run on the
fixtures end to end; compare shows ROUGE's geometric mean of the means."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from toroidal_bench import results
from toroidal_bench.cli import app

cli = CliRunner()
FIXTURES = str(Path(__file__).parent / "fixtures")


@pytest.mark.parametrize("task, file, fetch", [
    ("scrolls.qasper", "qasper/validation.jsonl", "hf download tau/scrolls qasper.zip --repo-type dataset"),
    ("zero_scrolls.musique", "musique/validation.jsonl", "hf download tau/zero_scrolls musique.zip --repo-type dataset"),
])
def test_missing_data_is_one_line_before_any_model_loads(tmp_path, monkeypatch, task, file, fetch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded although the data is missing")

    monkeypatch.setattr("toroidal_bench.models.loading.load_model", refuse)
    (tmp_path / "data").mkdir()
    r = cli.invoke(app, ["run", "task", task, "-m", "random:llama-tiny", "-L", "512", "--data-dir",
                         str(tmp_path / "data"), "--out", str(tmp_path / "r.parquet")])
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in r.output
    assert file in lines[0] and fetch in lines[0]
    assert not (tmp_path / "r.parquet").exists()


@pytest.mark.parametrize("task, metrics", [
    ("scrolls.qasper", {"f1"}),
    ("zero_scrolls.quality", {"accuracy"}),
])
def test_a_run_on_the_fixtures_end_to_end(tmp_path, task, metrics):
    out = tmp_path / "r.parquet"
    r = cli.invoke(app, ["run", "task", task, "-m", "random:llama-tiny", "--length", "512", "--limit", "2",
                         "--data-dir", FIXTURES, "--param", "max_new_tokens=8", "--out", str(out)])
    assert r.exit_code == 0, r.output
    df = results.read(out)
    assert set(df["metric"]) == metrics and df["error"].isna().all()
    assert sorted(df["sample_id"]) == sorted({f"{task.split('.')[1]}-0", f"{task.split('.')[1]}-1"})
    assert df["value"].between(0, 100).all()


def _rows(spec: str, values: dict[str, list[float]]) -> list[dict]:
    return [{"run_id": "r", "cell_id": f"c-{spec}", "model_spec": spec, "spec_hash": "h", "model": spec,
             "encoding": "x", "task": "scrolls.gov_report", "context_length": 4096, "depth": None,
             "sample_id": f"s{i}", "metric": name, "value": v, "error": None}
            for name, col in values.items() for i, v in enumerate(col)]


def test_compare_reports_the_geometric_mean_of_the_means_with_a_paired_interval(tmp_path):
    from toroidal_bench.compare import compare

    rng = np.random.default_rng(0)
    runs = {}
    for spec, shift in (("base", 0.0), ("new", 5.0)):
        cols = {t: list(rng.uniform(5, 60, 12) + shift) for t in ("rouge/rouge1", "rouge/rouge2", "rouge/rougeL")}
        cols["rouge/geometric_mean"] = list(np.cbrt(np.prod([cols[t] for t in list(cols)], axis=0)))
        runs[spec] = cols
        results.write_atomic(results.to_table(_rows(spec, cols), {"run_id": spec}), tmp_path / f"{spec}.parquet")
    table = compare([tmp_path / "base.parquet", tmp_path / "new.parquet"])
    gm = table[table["metric"] == "rouge/geometric_mean"].set_index("column")
    for spec, cols in runs.items():
        means = [np.mean(cols[t]) for t in ("rouge/rouge1", "rouge/rouge2", "rouge/rougeL")]
        assert gm.loc[spec, "value"] == pytest.approx(np.prod(means) ** (1 / 3))
        assert gm.loc[spec, "value"] != pytest.approx(np.mean(cols["rouge/geometric_mean"]))
        assert gm.loc[spec, "aggregation"] == "geometric"
    row = gm.loc["new"]
    assert row["delta"] == pytest.approx(gm.loc["new", "value"] - gm.loc["base", "value"])
    assert row["ci_low"] < row["delta"] < row["ci_high"] and row["paired"] == 12


def test_the_geometric_aggregate_is_vectorised_over_resamples_and_read_by_gates():
    from toroidal_bench.gates import _aggregate
    from toroidal_bench.metrics import metric

    gm = metric("rouge/geometric_mean")
    assert gm.derived and gm.inputs == ("rouge/rouge1", "rouge/rouge2", "rouge/rougeL")
    r1, r2, rl = (np.array([[10.0, 20.0], [40.0, 80.0]]) * k for k in (1, 2, 4))  # two resamples of two samples
    assert list(gm.combine(r1, r2, rl, axis=-1)) == pytest.approx([15.0 * 2, 60.0 * 2])
    cols = {"rouge/rouge1": [10.0, 20.0], "rouge/rouge2": [20.0, 40.0], "rouge/rougeL": [40.0, 80.0],
            "rouge/geometric_mean": [20.0, 40.0]}
    df = pd.DataFrame(_rows("m", cols)).assign(position=None, position_end=None)
    value, why = _aggregate(df, "rouge/geometric_mean")
    assert value == pytest.approx(30.0) and not why  # (15 · 30 · 60)^(1/3), not the mean of 20 and 40
