"""`tbench train` through the CLI: a toy run writes a model that `tbench run` can load; bad input
(unknown data, bad --trainable, missing or broken recipe, bad spec) exits 2 with one line and writes nothing."""

import pytest
from typer.testing import CliRunner

from toroidal_bench.cli import app

TOY = ["--steps", "3", "--length", "48", "--batch-size", "2", "--log-every", "1", "--device", "cpu"]


def invoke(*args):
    return CliRunner().invoke(app, list(args))


def test_cli_trains_and_the_result_reloads(tmp_path):
    out = tmp_path / "m"
    res = invoke("train", "random:llama-tiny+alibi", "--out", str(out), "--data", "periodic", *TOY)
    assert res.exit_code == 0, res.output
    assert "step 3  loss" in res.output  # plain lines when stderr is not a terminal
    assert f"local:{out}" in res.output
    for name in ("model.safetensors", "tokenizer.json", "tbench_model.json", "train_log.parquet"):
        assert (out / name).is_file()
    assert not (out / "checkpoints").exists()
    import toroidal_bench

    runner = toroidal_bench.load(f"local:{out}", device="cpu")
    assert runner.model.config._attn_implementation.startswith("tbench_alibi")


@pytest.mark.parametrize("args, message", [
    (["--data", "shakespear"], "unknown data source 'shakespear' — did you mean 'shakespeare'?"),
    (["--data", "shakespeare+shakespeare"], "names a source twice"),
    (["--trainable", "layers=x"], "bad --trainable 'layers=x'"),
    (["--trainable", "("], "is not a valid pattern"),
    (["--recipe", "missing.yaml"], "no recipe at 'missing.yaml'"),
    (["--steps", "0"], "steps must be ≥ 1"),
    (["--precision", "fp8"], "unknown precision 'fp8'"),
    (["--device", "tpu"], "unknown device 'tpu'"),
])
def test_bad_input_exits_2_with_one_line_before_training(tmp_path, args, message):
    out = tmp_path / "m"
    res = invoke("train", "random:llama-tiny", "--out", str(out), *args)
    assert res.exit_code == 2, res.output
    assert message in res.output and res.output.strip().count("\n") == 0
    assert not out.exists()


def test_bad_spec_broken_recipe_and_no_model(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: random:llama-tiny\nstep: 3\n")
    for args, message in ((["random:llama-tiny+toroidal(depht=2)"], "has no argument 'depht'"),
                          (["--recipe", str(recipe)], "unknown key 'step' — did you mean 'steps'?"),
                          ([], "no model spec to train")):
        res = invoke("train", *args, "--out", str(tmp_path / "m"))
        assert res.exit_code == 2 and message in res.output, res.output
    recipe.write_text("model: random:llama-tiny\nsteps: three\n")
    res = invoke("train", "--recipe", str(recipe), "--out", str(tmp_path / "m"))
    assert res.exit_code == 2 and "is not an int" in res.output


def test_hub_dataset_offline_fails_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    res = invoke("train", "random:llama-tiny", "--out", str(tmp_path / "m"), "--data", "wikitext2", *TOY)
    assert res.exit_code == 2
    assert "dataset 'wikitext2' needs the Hugging Face hub" in res.output


def test_local_text_and_jsonl_data(tmp_path):
    (tmp_path / "a.txt").write_text("to be or not to be " * 40)
    (tmp_path / "d.jsonl").write_text('{"text": "' + "all the world's a stage " * 20 + '"}\n')
    for i, data in enumerate((str(tmp_path / "a.txt"), str(tmp_path / "d.jsonl"), f"{tmp_path}*2+passkey")):
        res = invoke("train", "random:llama-tiny", "--out", str(tmp_path / f"out{i}"), "--data", data, *TOY)
        assert res.exit_code == 0, res.output
    res = invoke("train", "random:llama-tiny", "--out", str(tmp_path / "a.txt"), *TOY)
    assert res.exit_code == 2 and "is a file" in res.output
    (tmp_path / "bad.jsonl").write_text('{"txt": "x"}\n')
    res = invoke("train", "random:llama-tiny", "--out", str(tmp_path / "b"), "--data", str(tmp_path / "bad.jsonl"),
                 *TOY)
    assert res.exit_code == 2 and "has no string field 'text'" in res.output
