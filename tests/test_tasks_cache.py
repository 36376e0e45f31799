"""The sample cache: a second call reads the disk and returns identical samples."""

import json

import pytest

from tests.tasks_tokenizers import byte_level
from toroidal_bench.resources import tbench_home
from toroidal_bench.tasks.cache import cache_key, cached_samples
from toroidal_bench.tasks.catalog import get_task


def family(task, **extra):
    td = get_task(task)
    return type(td.build())(**{**td.params, **extra})


@pytest.mark.parametrize("task", ["niah_single_2", "math_find", "periodic_sinusoid", "niah"])
def test_second_call_reads_the_cache_and_returns_identical_samples(task, monkeypatch):
    tok = byte_level()
    first = cached_samples(task, family(task), tok, 2048, 0, 2)
    files = list((tbench_home() / "samples").glob("*.json"))
    assert len(files) == 1

    fam = family(task)
    monkeypatch.setattr(type(fam), "samples", lambda *a, **k: pytest.fail("generated again"))
    second = cached_samples(task, fam, tok, 2048, 0, 2)
    assert second == first
    assert [type(s.reference) for s in second] == [type(s.reference) for s in first]  # math_find: int vs float


def test_key_changes_with_every_input():
    tok = byte_level()
    base = cache_key("niah_single_2", family("niah_single_2"), tok, 2048, 0, 2)
    assert base != cache_key("niah_single_2", family("niah_single_2"), tok, 4096, 0, 2)
    assert base != cache_key("niah_single_2", family("niah_single_2"), tok, 2048, 1, 2)
    assert base != cache_key("niah_single_2", family("niah_single_2"), tok, 2048, 0, None)
    assert base != cache_key("niah_single_2", family("niah_single_2", num_needle_v=2), tok, 2048, 0, 2)
    assert base != cache_key("niah_single_3", family("niah_single_2"), tok, 2048, 0, 2)
    from tests.tasks_tokenizers import trained_bpe
    assert base != cache_key("niah_single_2", family("niah_single_2"), trained_bpe("gpt2"), 2048, 0, 2)


def test_a_corrupt_cache_file_is_regenerated():
    tok = byte_level()
    first = cached_samples("fwe", family("fwe"), tok, 2048, 0, 1)
    (path,) = (tbench_home() / "samples").glob("*.json")
    path.write_text("{not json")
    assert cached_samples("fwe", family("fwe"), tok, 2048, 0, 1) == first
    assert json.loads(path.read_text())["task"] == "fwe"


def test_key_changes_when_sample_contents_change(monkeypatch):
    """Sample contents change with the cache format or a family's version; either must miss the cache."""
    from toroidal_bench.tasks import cache

    tok = byte_level()
    fam = family("passkey")
    base = cache_key("passkey", fam, tok, 2048, 0, 2)
    monkeypatch.setattr(cache, "FORMAT", cache.FORMAT + 1)
    assert cache_key("passkey", fam, tok, 2048, 0, 2) != base
    monkeypatch.setattr(cache, "FORMAT", cache.FORMAT - 1)
    monkeypatch.setattr(type(fam), "version", type(fam).version + "x")
    assert cache_key("passkey", fam, tok, 2048, 0, 2) != base


def test_a_file_of_the_previous_format_is_regenerated():
    from toroidal_bench.tasks import cache

    tok = byte_level()
    first = cached_samples("passkey", family("passkey"), tok, 1024, 0, 1)
    (path,) = (tbench_home() / "samples").glob("*.json")
    data = json.loads(path.read_text())
    data["format"] = cache.FORMAT - 1
    data["samples"][0]["reference"] = "stale"
    path.write_text(json.dumps(data))
    assert cached_samples("passkey", family("passkey"), tok, 1024, 0, 1) == first
