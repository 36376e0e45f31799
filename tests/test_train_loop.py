"""`tbench train` on CPU at toy size: loss goes down, the same seed gives the same weights, --resume
continues the same run, --trainable freezes the rest, the saved folder reloads as local:DIR."""

import shutil

import pytest
import torch
from safetensors.torch import load_file

import toroidal_bench
from toroidal_bench.errors import UsageError
from toroidal_bench.training import TrainConfig, train

TOY = dict(length=64, min_length=32, batch_size=2, log_every=1, lr=3e-3, warmup=1)


def run(tmp_path, name, **kw):
    cfg = TrainConfig(**{"model": "random:llama-tiny", "data": "periodic", "steps": 4, **TOY, **kw})
    out = tmp_path / name
    train(cfg, out, device="cpu")
    return out


def weights(out):
    return load_file(str(out / "model.safetensors"))


def test_loss_goes_down(tmp_path):
    import pyarrow.parquet as pq

    out = run(tmp_path, "a", data="shakespeare", steps=20, batch_size=4, lr=1e-2)
    log = pq.read_table(out / "train_log.parquet").to_pandas()
    assert list(log.columns) == ["step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "elapsed_s"]
    assert list(log.step) == list(range(1, 21))
    assert log.loss.iloc[-3:].mean() < 0.8 * log.loss.iloc[:3].mean()
    assert (log.tokens_per_s > 0).all() and log.tokens.iloc[-1] == 20 * 4 * 64


def test_same_seed_same_weights_and_another_seed_differs(tmp_path):
    a, b, c = run(tmp_path, "a"), run(tmp_path, "b"), run(tmp_path, "c", seed=1)
    wa, wb, wc = weights(a), weights(b), weights(c)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


def test_resume_continues_the_same_run(tmp_path):
    spec = "random:llama-tiny+toroidal(depth=2,lambda=0.1,layers=0..1,dropout=0.1)"
    full = run(tmp_path, "full", model=spec, steps=6, checkpoint_every=3, keep_checkpoints=True)
    # a crash after the step-3 checkpoint: only it, the config and the log survive
    part = tmp_path / "part"
    part.mkdir()
    shutil.copytree(full / "checkpoints" / "step-000003", part / "checkpoints" / "step-000003")
    for name in ("train_config.json", "train_log.parquet"):
        shutil.copy(full / name, part / name)
    cfg = TrainConfig(model=spec, data="periodic", steps=6, checkpoint_every=3, keep_checkpoints=True, **TOY)
    train(cfg, part, resume=True, device="cpu")
    wf, wp = weights(full), weights(part)
    assert set(wf) == set(wp) and all(torch.equal(wf[k], wp[k]) for k in wf)


def test_resume_refuses_other_settings_and_missing_runs(tmp_path):
    out = run(tmp_path, "a")
    with pytest.raises(UsageError, match="different settings.*lr"):
        train(TrainConfig(model="random:llama-tiny", data="periodic", steps=4, **{**TOY, "lr": 1e-2}), out,
              resume=True, device="cpu")
    with pytest.raises(UsageError, match="nothing to resume"):
        train(TrainConfig(model="random:llama-tiny", steps=4, **TOY), tmp_path / "none", resume=True)
    with pytest.raises(UsageError, match="not empty"):
        train(TrainConfig(model="random:llama-tiny", steps=4, **TOY), out)


def test_trainable_layers_freezes_everything_else(tmp_path):
    before = toroidal_bench.load("random:llama-tiny", device="cpu").model.state_dict()
    after = weights(run(tmp_path, "a", trainable="layers=1"))
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    assert changed and all(k.startswith("model.layers.1.") for k in changed)


def test_trainable_encoding_trains_only_the_replaced_attention(tmp_path):
    spec = "random:llama-tiny+toroidal(depth=2,layers=0)"
    before = toroidal_bench.load(spec, device="cpu").model.state_dict()
    after = weights(run(tmp_path, "a", model=spec, trainable="encoding"))
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    assert "model.layers.0.self_attn.core.fusion.V" in changed
    assert all(k.startswith("model.layers.0.") for k in changed)


def test_trained_folder_reloads_with_its_encoding(tmp_path):
    spec = "random:llama-tiny+toroidal(depth=2,lambda=0.2,layers=0..1)"
    out = run(tmp_path, "a", model=spec, data="shakespeare+passkey", answer_weight=20)
    runner = toroidal_bench.load(f"local:{out}", device="cpu")
    assert runner.spec == f"local:{out}"
    state = runner.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in weights(out).items())
    assert type(runner.model.model.layers[1].self_attn).__name__ == "ToroidalHFAttention"
    assert runner.tokenizer("hi")["input_ids"] == toroidal_bench.load("random:llama-tiny").tokenizer("hi")["input_ids"]
