"""The toroidal seeds' workflow end to end, offline, at toy size: perplexity of a reference baseline →
fine-tune injected toroidal layers → perplexity again → compare (docs/training.md)."""

import json

from typer.testing import CliRunner

from toroidal_bench.cli import app

cli = CliRunner()


def tbench(*args):
    r = cli.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def test_baseline_finetune_compare(tmp_path):
    ppl = ["shakespeare", "-L", 256, "-n", 1, "--param", "max_tokens=512"]
    tbench("run", "task", *ppl, "-m", "ref:rope", "--out", tmp_path / "base.parquet")
    tbench("train", "ref:rope+toroidal(depth=4,lambda=0.1,layers=0)", "--trainable", "encoding",
           "--data", "shakespeare", "--steps", 4, "--warmup", 1, "--batch-size", 2, "--length", 256,
           "--device", "cpu", "--out", tmp_path / "ft")
    tbench("run", "task", *ppl, "-m", f"local:{tmp_path / 'ft'}", "--out", tmp_path / "ft.parquet")
    rows = json.loads(tbench("compare", tmp_path / "base.parquet", tmp_path / "ft.parquet", "--format", "json"))
    ppl_rows = [r for r in rows if r["metric"] == "perplexity" and r["position"] is None]
    assert len(ppl_rows) == 2 and all(r["value"] > 1 for r in ppl_rows)
    assert ppl_rows[0]["value"] != ppl_rows[1]["value"]  # the fine-tuned toroidal layer changed the model
