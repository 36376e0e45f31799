"""Models larger than one GPU (`--device-map`): the plan of which layer goes where (pure), building a
random model piece by piece from the meta device, dispatching a loaded model, and the one-line
refusals. The GPUs themselves are only in the recorded run (benchmarks/README.md)."""

import pytest
import torch
from helpers import save_random_model
from typer.testing import CliRunner

from toroidal_bench.cli import app
from toroidal_bench.errors import ModelLoadError, UsageError
from toroidal_bench.models import device_map as dm
from toroidal_bench.models.loading import load_model, resolve, spec_hash
from toroidal_bench.models.random_models import build_random, random_config
from toroidal_bench.models.runner import Runner
from toroidal_bench.models.self_check import self_check
from toroidal_bench.tasks.base import Generate, LogLikelihood

GiB = 2**30
REST = (("model.embed_tokens", 2), ("model.norm", 0), ("model.rotary_emb", 0), ("lm_head", 2))


def pieces(n: int, size: int = 10) -> dm.Pieces:
    return dm.Pieces(tuple((f"model.layers.{i}", size) for i in range(n)), REST)


def layers_on(plan: dict[str, str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for name, device in plan.items():
        if name.startswith("model.layers."):
            out.setdefault(device, []).append(int(name.rsplit(".", 1)[1]))
    return out


# -- the plan ---------------------------------------------------------------------------------------
def test_auto_balances_contiguous_layers_and_keeps_the_rest_on_the_first_gpu():
    plan = dm.plan(pieces(8), {"cuda:0": 1000, "cuda:1": 1000})
    assert layers_on(plan) == {"cuda:0": [0, 1, 2, 3], "cuda:1": [4, 5, 6, 7]}
    assert all(plan[name] == "cuda:0" for name, _ in REST)


def test_auto_follows_the_free_memory():
    def counts(budgets):
        return {d: len(v) for d, v in layers_on(dm.plan(pieces(9), budgets)).items()}

    # 4 bytes of embeddings and head stay on cuda:0; the layers go in proportion to what is left
    assert counts({"cuda:0": 304, "cuda:1": 600}) == {"cuda:0": 3, "cuda:1": 6}
    assert counts({"cuda:0": 304, "cuda:1": 300, "cuda:2": 300}) == {"cuda:0": 3, "cuda:1": 3, "cuda:2": 3}
    # a device whose share is under half a layer gets none
    assert counts({"cuda:0": 4 + 40, "cuda:1": 1000}) == {"cuda:1": 9}


def test_sequential_fills_each_gpu_first():
    plan = dm.plan(pieces(8), {"cuda:0": 54, "cuda:1": 1000}, "sequential")
    assert layers_on(plan) == {"cuda:0": [0, 1, 2, 3, 4], "cuda:1": [5, 6, 7]}
    assert layers_on(dm.plan(pieces(3), {"cuda:0": 1000, "cuda:1": 1000}, "sequential")) == {"cuda:0": [0, 1, 2]}


def test_weights_that_do_not_fit_are_refused_in_one_line():
    with pytest.raises(ModelLoadError, match=r"do not fit in .* GiB on cuda:0 \+ .* GiB on cuda:1"):
        dm.plan(pieces(8), {"cuda:0": 40, "cuda:1": 40})
    with pytest.raises(ModelLoadError, match="do not fit"):
        dm.plan(pieces(1), {"cuda:0": 3, "cuda:1": 1000})  # the embeddings and head alone exceed GPU 0
    with pytest.raises(ModelLoadError, match="contiguous runs"):  # 30 bytes free in total, but 15 + 15
        dm.plan(dm.Pieces((("model.layers.0", 20), ("model.layers.1", 10)), ()), {"cuda:0": 15, "cuda:1": 15})
    with pytest.raises(ModelLoadError, match="at least one GPU"):
        dm.plan(pieces(2), {})


def test_summary_names_each_gpus_layers_and_bytes():
    p = pieces(8)
    assert dm.summary(dm.plan(p, {"cuda:0": 1000, "cuda:1": 1000}), p) == {
        "cuda:0": {"layers": [0, 3], "weight_bytes": 44}, "cuda:1": {"layers": [4, 7], "weight_bytes": 40}}


def test_the_70b_shape_with_96_layers_exceeds_one_h200_and_fits_two():
    model = dm.meta_model(random_config("llama-70b", {"layers": 96}), torch.bfloat16)
    p = dm.pieces_of(model)
    assert len(p.layers) == 96 and [n for n, _ in p.rest] == ["model.embed_tokens", "model.norm",
                                                               "model.rotary_emb", "lm_head"]
    assert 153 * GiB < p.total < 153.1 * GiB  # one H200 holds about 139 GiB
    h200 = int(139.7 * GiB * (1 - dm.RESERVE_FRACTION))
    assert dm.summary(dm.plan(p, {"cuda:0": h200, "cuda:1": h200}), p)["cuda:1"]["layers"] == [48, 95]


# -- building and dispatching on the CPU --------------------------------------------------------------
def cpu_plan(spec: str) -> dict[str, str]:
    ref = resolve(spec).spec.model
    return dm.plan(dm.pieces_of(dm.meta_model(random_config(ref.name, dict(ref.args)), torch.float32)),
                   {"cpu": 1 << 40})


@pytest.mark.parametrize("name", ["llama-tiny", "phi-tiny"])
def test_random_model_built_piece_by_piece_is_seeded_and_initialised_like_transformers(name):
    plan = cpu_plan(f"random:{name}")
    a = build_random(name, {"seed": 3}, torch.float32, "sdpa", device_map=plan)
    b = build_random(name, {"seed": 3}, torch.float32, "sdpa", device_map=plan)
    c = build_random(name, {"seed": 4}, torch.float32, "sdpa", device_map=plan)
    plain = build_random(name, {"seed": 3}, torch.float32, "sdpa")
    sa, sb, sc, sp = (m.state_dict() for m in (a, b, c, plain))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)  # same seed, same plan: same weights
    assert not torch.equal(sa["lm_head.weight"], sc["lm_head.weight"])
    for key, value in sp.items():
        assert value.shape == sa[key].shape
        if value.std() == 0 or value.dim() == 1:  # norms, biases and rotary tables: exactly transformers'
            assert torch.equal(value, sa[key]), key
        else:  # random matrices: the same distribution (std initializer_range), other draws
            assert abs(sa[key].std().item() - 0.02) < 0.002, key
            assert not torch.equal(value, sa[key])


def test_placed_random_model_gets_its_own_spec_hash():
    resolved = resolve("random:llama-tiny")
    placed, _ = load_model(resolved, "cpu", torch.float32, device_map=cpu_plan("random:llama-tiny"))
    plain, _ = load_model(resolved, "cpu", torch.float32)
    assert spec_hash(resolved, placed) != spec_hash(resolved, plain)
    assert placed.tbench_device_map == {"cpu": {"layers": [0, 1], "weight_bytes": dm.pieces_of(plain).total}}


@pytest.mark.parametrize("encoding", ["", "+alibi", "+toroidal(depth=2,lambda=0.1)", "+attractor(alpha=fixed:0.5)"])
def test_dispatched_model_runs_the_same_as_the_plain_one(tmp_path, encoding):
    folder = save_random_model(tmp_path / "m")
    resolved = resolve(f"local:{folder}{encoding}")
    placed, tok = load_model(resolved, "cpu", torch.float32, device_map=cpu_plan("random:llama-tiny"))
    plain, _ = load_model(resolved, "cpu", torch.float32)
    assert hasattr(placed.model.layers[0], "_hf_hook")  # accelerate moves each layer's inputs
    assert self_check(placed).passed
    ids = tok("the quick brown fox")["input_ids"]
    reqs = [LogLikelihood(context_ids=ids, continuation_ids=[5, 6, 7])]
    gens = [Generate(prompt_ids=ids, max_new_tokens=5)]
    a, b = Runner(placed, tok), Runner(plain, tok)
    assert a.loglikelihood(reqs) == b.loglikelihood(reqs) and a.generate(gens) == b.generate(gens)


# -- refusals -----------------------------------------------------------------------------------------
def run(*args):
    return CliRunner().invoke(app, ["run", "task", "passkey", "-m", "random:llama-tiny", "-L", "256", "-n", "1",
                                    *args])


def test_unknown_strategy_exits_2_with_the_choices(tmp_path):
    r = run("--device-map", "balanced", "--out", str(tmp_path / "r.parquet"))
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "unknown device-map strategy 'balanced'" in r.output and "auto" in r.output


def test_device_map_without_a_gpu_exits_2(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    r = run("--device-map", "auto", "--out", str(tmp_path / "r.parquet"))
    assert r.exit_code == 2 and "no CUDA GPU is visible" in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "r.parquet").exists()


def test_device_map_is_refused_under_torchrun_and_with_one_device(monkeypatch):
    from toroidal_bench.preflight import check_device_map

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check_device_map("auto", None)
    check_device_map("sequential", "cuda")
    with pytest.raises(UsageError, match="--device cuda:1 picks one"):
        check_device_map("auto", "cuda:1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(UsageError, match=r"cannot run under torchrun \(2 processes\)"):
        check_device_map("auto", None)


def test_a_model_larger_than_the_gpu_names_the_device_map(monkeypatch):
    from toroidal_bench.preflight import check_fits
    from toroidal_bench.suites import expand

    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (100 * GiB, 140 * GiB))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    check_fits(expand(["random:llama-tiny"], ["passkey"], [256]), "cuda:0", None)
    cells = expand(["random:llama-70b+alibi"], ["passkey"], [256])
    with pytest.raises(UsageError) as err:
        check_fits(cells, "cuda:0", None)
    assert err.value.line() == ("random:llama-70b needs 127.5 GiB for its weights alone; cuda:0 has "
                                "100.0 GiB free — pass --device-map auto to spread it over the 2 visible GPUs")
