"""Diagnostics and profiling as tasks (rows a suite can gate), and suites run over several seeds."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from toroidal_bench.cli import app
from toroidal_bench.errors import UsageError
from toroidal_bench.suites import load_suite, suite_cells

cli = CliRunner()


def _run(tmp_path, *args):
    out = tmp_path / "r.parquet"
    r = cli.invoke(app, ["run", "task", *args, "--out", str(out)])
    assert r.exit_code == 0, r.output
    return pd.read_parquet(out)


def test_diagnostics_rows_follow_the_encoding(tmp_path):
    df = _run(tmp_path, "diagnostics", "-m", "random:llama-tiny", "-m", "random:llama-tiny+alibi",
              "-m", "random:llama-tiny+yarn(factor=4)", "-L", "512")
    assert df["error"].isna().all()
    got = {spec: set(g["metric"]) for spec, g in df.groupby("model_spec")}
    rotary = {"min_distance", "near_collisions", "spectral_entropy", "spectral_octaves",
              "attention_entropy", "attention_distance"}
    assert got["random:llama-tiny"] == rotary
    assert got["random:llama-tiny+yarn(factor=4.0)"] == rotary
    # ALiBi has no rotary: no geometry rows at all (a gate on them fails), attention only
    assert got["random:llama-tiny+alibi"] == {"attention_entropy", "attention_distance"}
    octaves = df[df["metric"] == "spectral_octaves"].set_index("model_spec")["value"]
    # YaRN stretches the longest wavelengths: its own inv_freq is analysed, not plain RoPE's
    assert octaves["random:llama-tiny+yarn(factor=4.0)"] > octaves["random:llama-tiny"] + 0.5
    attention = df[df["sample_id"] == "attention"]
    assert (attention["prompt_tokens"] == 256).all()  # min(length, attention_tokens)


def test_diagnostics_rejects_an_unknown_analysis(tmp_path):
    r = cli.invoke(app, ["run", "task", "diagnostics", "-m", "random:llama-tiny", "-L", "256",
                         "--param", "analyses=[colision]", "--out", str(tmp_path / "r.parquet")])
    assert r.exit_code != 0
    df = pd.read_parquet(tmp_path / "r.parquet")
    assert df["error"].str.contains("unknown analysis 'colision'").all()


def test_profile_rows_one_per_repeat_and_no_peak_on_cpu(tmp_path):
    df = _run(tmp_path, "profile", "-m", "random:llama-tiny", "-L", "128", "-n", "2", "--param", "new_tokens=4")
    assert sorted(df["sample_id"].unique()) == ["repeat-0", "repeat-1"]
    assert set(df["metric"]) == {"prefill_tokens_per_s", "decode_tokens_per_s", "state_bytes"}
    assert (df["value"] > 0).all()
    meta = json.loads(df["meta"].iloc[0])
    assert meta["prompt_tokens"] == 124 and meta["new_tokens"] == 4
    # llama-tiny's KV cache after the 124-token prefill, fp32: 2 layers × (K, V) × 2 kv heads × head dim 16
    state = df[df["metric"] == "state_bytes"]["value"]
    assert (state == 2 * 2 * 2 * 16 * 124 * 4).all()


def _seed_suite(tmp_path, body):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nmodels: [random:llama-tiny]\ntasks: [passkey]\nlengths: [256]\nlimit: 2\n" + body)
    return str(path)


def test_seeds_run_every_cell_once_per_seed(tmp_path):
    suite = load_suite(_seed_suite(tmp_path, "seeds: [0, 4]\n"))
    cells = suite_cells(suite)
    assert [c.seed for c in cells] == [0, 4]
    for body, message in (("seeds: [0, 0]\n", "given twice"), ("seed: 1\nseeds: [2]\n", "both 'seed' and 'seeds'"),
                          ("seeds: []\n", "1 to 64 seeds"), ("seeds: [-1]\n", "must be an integer")):
        with pytest.raises(UsageError, match=message):
            load_suite(_seed_suite(tmp_path, body))


def test_other_seeds_mark_their_sample_ids_and_the_report_shows_the_spread(tmp_path):
    out = tmp_path / "r.parquet"
    r = cli.invoke(app, ["run", "suite", _seed_suite(tmp_path, "seeds: [0, 1, 2]\n"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    df = pd.read_parquet(out)
    ids = set(df["sample_id"])
    assert {"256-0", "256-0~seed1", "256-0~seed2"} <= ids  # the same index at another seed is another sample
    from toroidal_bench.report import data

    spread = data.seed_spread(data.load([out]))
    assert len(spread) == 1
    row = spread.iloc[0]
    assert row["seeds"] == 3 and row["metric"] == "accuracy"
    per_seed = df[df["metric"] == "accuracy"].assign(seed=lambda d: d["sample_id"].str.extract(r"~seed(\d)")[0]
                                                     .fillna("0")).groupby("seed")["value"].mean()
    assert row["mean"] == pytest.approx(per_seed.mean())
    assert row["sd"] == pytest.approx(per_seed.std(ddof=1))
