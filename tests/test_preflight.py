"""Bad input is refused before any model loads, with one line, exit 2, and nothing written."""

import pytest
from typer.testing import CliRunner

from toroidal_bench.cli import app
from toroidal_bench.errors import ModelLoadError
from toroidal_bench.models import hub

cli = CliRunner()


@pytest.fixture(autouse=True)
def no_model_loads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded for bad input")

    monkeypatch.setattr("toroidal_bench.models.loading.load_model", refuse)


def refused(tmp_path, *args):
    out = tmp_path / "r.parquet"
    r = cli.invoke(app, ["run", "task", *map(str, args), "--out", str(out)])
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert not any(tmp_path.iterdir()), "a refused run wrote something"
    return lines[0]


@pytest.mark.parametrize("args, says", [
    (["passkey", "-m", "llama-tiny+rope", "-L", 512], "did you mean 'random:llama-tiny'"),
    (["passkey", "-m", "random:llama-tiny", "-L", 512, "--attn", "flash"], "did you mean 'flash2'"),
    (["passkey", "-m", "random:llama-tiny", "-L", 512, "--attn", "flash2"], "flash-attn is not installed"),
    (["passkey", "-m", "random:llama-tiny", "-L", 512, "--device", "cuda:3"], "--device cuda:3"),
    (["passkey", "-m", "random:llama-tiny", "-L", 512, "--dtype", "bogus"], "unknown dtype 'bogus'"),
    (["passkey", "-m", "random:llama-tiny", "-L", 20], "too short"),
    (["niah", "-m", "random:llama-tiny", "-L", 512], "too short"),
    (["niah", "-m", "random:llama-tiny", "-L", 4096, "--haystack-dir", "/nonexistent"], "is not a directory"),
    (["qa_1", "-m", "random:llama-tiny", "-L", 1024, "--data-dir", "."], "qa_1"),
])
def test_refused_before_loading(tmp_path, args, says):
    import torch

    if "--device" in args and torch.cuda.device_count() > 3:
        pytest.skip("this machine has that GPU")
    assert says in refused(tmp_path, *args)


def test_an_existing_results_file_is_untouched(tmp_path):
    from helpers import rows, write

    good = write(tmp_path / "r.parquet", rows("random:llama-tiny", "passkey", 256, "accuracy", [1.0]))
    before = good.read_bytes()
    for extra in (["--overwrite"], ["--resume"]):
        r = cli.invoke(app, ["run", "task", "passkey", "-m", "random:llama-tiny", "-L", "256", "--dtype", "bogus",
                             "--out", str(good), *extra])
        assert r.exit_code == 2
        assert good.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.parquet"]


def test_the_hub_is_asked_once_and_its_refusal_is_one_line(monkeypatch):
    from huggingface_hub import HfApi

    calls = []

    def unreachable(self, repo_id, **kwargs):
        calls.append(repo_id)
        raise ConnectionError("Name or service not known")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(HfApi, "model_info", unreachable)
    with pytest.raises(ModelLoadError, match="hub is unreachable"):
        hub.check_available("someone/some-model")
    assert calls == ["someone/some-model"]


def test_offline_and_uncached_is_refused_without_asking(monkeypatch):
    from huggingface_hub import HfApi

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(HfApi, "model_info", lambda *a, **k: pytest.fail("asked the hub while offline"))
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE"):
        hub.check_available("someone/some-model")
