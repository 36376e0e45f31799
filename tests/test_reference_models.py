"""The `ref:` scheme, its recipes, and tbench model directories: a saved patched model reloads as
`local:DIR` (and as `ref:NAME` once shipped) with identical logits."""

import shutil

import pytest
import torch
from typer.testing import CliRunner

import toroidal_bench
from toroidal_bench.cli import app
from toroidal_bench.errors import ModelLoadError, UnknownNameError
from toroidal_bench.models import reference, saved
from toroidal_bench.models.loading import resolve
from toroidal_bench.training import build_config, prepare

FAMILIES = {"rope": "random:llama-ref", "nope": "+nope", "alibi": "+alibi", "pi-spiral": "+pi-spiral",
            "hybrid": "+hybrid(", "toroidal-d1": "+toroidal(depth=1,", "toroidal-d4": "+toroidal(depth=4,",
            "attractor": "+attractor("}


def test_one_recipe_per_family_sharing_everything_but_the_model(tmp_path):
    assert set(reference.names()) == set(FAMILIES)
    configs = {n: build_config(reference.recipe_path(n), {}) for n in reference.names()}
    for name, cfg in configs.items():
        assert FAMILIES[name] in cfg.model and cfg.model.startswith("random:llama-ref")
        assert cfg.length == 1024 and "shakespeare" in cfg.data and "passkey" in cfg.data
        prepare(cfg, tmp_path / name)  # spec, data and trainable all valid
    shared = {k: v for k, v in configs["rope"].to_json().items() if k not in ("model", "name", "description")}
    for cfg in configs.values():
        assert {k: v for k, v in cfg.to_json().items() if k in shared} == shared


@pytest.mark.parametrize("name", ["rope", "toroidal-d4", "attractor"])
def test_reference_models_fit_the_size_budget(name):
    cfg = build_config(reference.recipe_path(name), {})
    model = toroidal_bench.load(cfg.model, device="cpu").model
    bf16_bytes = 2 * sum(p.numel() for p in model.state_dict().values())
    assert cfg.save_dtype == "bf16" and bf16_bytes <= 8e6 and 8 * bf16_bytes <= 64e6


def test_unbuilt_and_unknown_ref_models_say_what_to_do(tmp_path, monkeypatch):
    import shutil

    from toroidal_bench.models import reference

    shutil.copytree(reference.ref_root() / "recipes", tmp_path / "recipes")  # recipes, no weights
    monkeypatch.setattr(reference, "ref_root", lambda: tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError) as info:
        resolve("ref:rope")
    assert info.value.line() == ("reference model 'rope' has no weights in this installation — "
                                 "build it with: tbench train --recipe ref/recipes/rope.yaml --out ref/rope")
    with pytest.raises(UnknownNameError) as info:
        resolve("ref:rop")
    assert "did you mean 'rope'?" in info.value.line()
    res = CliRunner().invoke(app, ["run", "task", "passkey", "--model", "ref:alibi", "--length", "512", "--out", "x.parquet"])
    assert res.exit_code == 2 and "tbench train --recipe ref/recipes/alibi.yaml --out ref/alibi" in res.output


def _perturbed(spec):
    model = toroidal_bench.load(spec, device="cpu").model
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # trained-looking weights: fusion V, attractor decay etc. away from their init
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return model


@pytest.mark.parametrize("encodings", [
    "+toroidal(depth=2,lambda=0.3,layers=0..1,fusion=attention)",
    "+toroidal(depth=4,layers=1,pe=toroidal3d,window=16)",
    "+attractor(alpha=learned,layers=1)",
    "+attractor(inject=residual,gate=0.3)",
    "+alibi", "+nope", "+pi-spiral(const=e)", "",
])
def test_saved_model_reloads_with_identical_logits(tmp_path, encodings):
    spec = "random:llama-tiny(seed=3)" + encodings
    model = _perturbed(spec)
    resolved = resolve(spec)
    saved.save(model, toroidal_bench.load("random:llama-tiny").tokenizer, tmp_path, base="random:llama-tiny(seed=3)",
               encodings=list(resolved.encodings))
    again = toroidal_bench.load(f"local:{tmp_path}", device="cpu")
    assert resolve(f"local:{tmp_path}").encoding_label == (resolved.encoding_label)
    x = torch.randint(3, 250, (2, 37), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(again.model(x).logits, model(x).logits)


def test_stored_encodings_compose_with_new_ones(tmp_path):
    model = _perturbed("random:llama-tiny+attractor(inject=residual,layers=0)")
    saved.save(model, toroidal_bench.load("random:llama-tiny").tokenizer, tmp_path, base="random:llama-tiny",
               encodings=list(resolve("random:llama-tiny+attractor(inject=residual,layers=0)").encodings))
    r = resolve(f"local:{tmp_path}+toroidal(depth=2,layers=1)")
    assert r.canonical() == f"local:{tmp_path}+toroidal(depth=2,layers=1)"
    assert r.encoding_label == "attractor(inject=residual,layers=0)+toroidal(depth=2,layers=1)"
    runner = toroidal_bench.load(r.canonical(), device="cpu")
    assert type(runner.model.model.layers[1].self_attn).__name__ == "ToroidalHFAttention"


def test_a_shipped_ref_model_loads_and_is_listed(tmp_path, monkeypatch):
    root = tmp_path / "ref"
    shutil.copytree(reference.ref_root() / "recipes", root / "recipes")
    monkeypatch.setattr(reference, "ref_root", lambda: root)
    spec = "random:llama-tiny+alibi"
    model = _perturbed(spec)
    saved.save(model, toroidal_bench.load("random:llama-tiny").tokenizer, root / "alibi", base="random:llama-tiny",
               encodings=list(resolve(spec).encodings), dtype=torch.bfloat16, extra={"parameters": 107204})
    runner = toroidal_bench.load("ref:alibi", device="cpu")
    assert runner.spec == "ref:alibi" and resolve("ref:alibi").encoding_label == "alibi"
    res = CliRunner().invoke(app, ["list", "models"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    line = next(ln for ln in res.output.splitlines() if "ref:alibi" in ln)
    assert "0.11M" in line and "MB" in line and "1024 tokens" in line


def test_wheel_ships_the_recipes(tmp_path, monkeypatch):
    import zipfile
    from pathlib import Path

    build = pytest.importorskip("hatchling.build", reason="hatchling is a dev dependency")
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    names = zipfile.ZipFile(tmp_path / build.build_wheel(str(tmp_path))).namelist()
    assert "toroidal_bench/_builtin/ref/recipes/rope.yaml" in names


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_recipe_trains_and_reloads_at_toy_size(tmp_path, name):
    from toroidal_bench.training import train

    cfg = build_config(reference.recipe_path(name), {"steps": 1, "warmup": 0, "length": 96, "min_length": 64, "batch_size": 2})
    train(cfg, tmp_path / name, device="cpu")
    runner = toroidal_bench.load(f"local:{tmp_path / name}", device="cpu")
    assert resolve(f"local:{tmp_path / name}").encoding_label == resolve(cfg.model).encoding_label
    assert (tmp_path / name / "model.safetensors").stat().st_size < 8e6  # saved in bf16
    assert runner.model.dtype == torch.float32
