"""Diagnostics: collision numbers (exact vs brute force, the known traps), spectra, attention maps,
profile, files written, and the `diagnose` command through Typer's CliRunner."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import typer
from typer.testing import CliRunner

import toroidal_bench as tb
from toroidal_bench.cli.diagnose import diagnose
from toroidal_bench.diagnostics import attention_maps, collision, geometry, report, spectral


def brute_force(g, n):
    e = g.vectors(np.arange(n)) / np.sqrt(g.n_pairs)
    d = np.sqrt(np.maximum(((e[:, None] - e[None]) ** 2).sum(-1), 0))
    iu = np.triu_indices(n, 1)
    return d[iu], (iu[1] - iu[0])


@pytest.mark.parametrize("spec", ["rope", "pi-spiral(const=phi)", "pi-spiral(const=prng,spread=flat)"])
def test_exact_delta_method_equals_all_pairs(spec):
    g = geometry.from_spec(spec, 16, 10000.0)
    stats, hist = collision.collision_stats(g, 300)
    d, delta = brute_force(g, 300)
    assert stats.method == "exact-delta"
    assert stats.min_distance == pytest.approx(d.min(), abs=1e-9)
    assert stats.min_at_delta == delta[np.argmin(d)]
    assert hist.sum() == pytest.approx(len(d))
    # the block method on the same encoding agrees
    pairs, _ = collision._pairwise(g, 300, 128, 0.05, 8192, 0)
    assert pairs.min_distance == pytest.approx(stats.min_distance, abs=1e-9)


def test_public_single_frequency_collides_at_113_and_ours_does_not():
    single = geometry.public_single("pi", 128)
    stats, _ = collision.collision_stats(single, 4096)
    assert stats.min_at_delta == 113 and stats.min_distance < 1e-3
    ours, _ = collision.collision_stats(geometry.from_spec("pi-spiral(const=pi)", 128, 10000.0), 4096)
    assert ours.min_far > 0.9 and ours.near_collisions == 0
    # the literal reading a_m = frac(π·(m+1)) inherits π's near-period on every pair at once
    flat, _ = collision.collision_stats(geometry.from_spec("pi-spiral(const=pi,spread=flat)", 128, 1e4), 4096)
    assert flat.min_at_delta == 113 and flat.min_distance < 0.02
    prng, _ = collision.collision_stats(geometry.from_spec("pi-spiral(const=prng,spread=flat)", 128, 1e4), 4096)
    assert prng.min_distance > 1.0


def test_hybrid_is_measured_over_pairs_and_sampled_beyond_the_limit():
    g = geometry.from_spec("hybrid(switch=200,width=64,const=e)", 16, 10000.0)
    assert not g.stationary
    stats, _ = collision.collision_stats(g, 400)
    d, _ = brute_force(g, 400)
    assert stats.method == "exact-pairs" and stats.min_distance == pytest.approx(d.min(), abs=1e-9)
    big, _ = collision.collision_stats(g, 3000, max_pairs_n=500)
    assert big.method == "sampled"


def test_spectrum_has_a_line_per_pair_at_the_folded_frequencies():
    g = geometry.from_spec("pi-spiral(const=e,spread=flat)", 8, 10000.0)
    stats, (f, p) = spectral.spectral_stats(g, 4096)
    eff = np.sort(g.effective_frequencies())
    peaks = f[1:-1][(p[1:-1] > p[:-2]) & (p[1:-1] >= p[2:]) & (p[1:-1] >= 0.01 * p.max())]
    for x in eff:
        assert np.min(np.abs(peaks - x)) <= 1.0 / 4096
    single, _ = spectral.spectral_stats(geometry.public_single("pi", 8), 4096)
    assert single.lines == 1 and single.octaves == 0


def test_attention_maps_rows_sum_to_one_and_show_the_slot():
    runner = tb.load("random:qwen2-tiny+attractor(alpha=fixed:0.9,layers=1)")
    ids = torch.arange(5, 25)[None]
    maps = attention_maps.attention_maps(runner.model, ids)
    assert maps[0].shape == (4, 20, 20) and maps[1].shape == (4, 20, 21)
    for w in maps:
        np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
        assert np.all(np.triu(w[..., :20], 1) == 0)  # causal
    stats = attention_maps.head_stats(maps)
    assert all(s.slot_mass == 0 for s in stats if s.layer == 0)
    assert all(s.slot_mass > 0 for s in stats if s.layer == 1)
    # the capture path computes the same outputs as the model's own attention
    with torch.no_grad():
        before = runner.model(ids).logits
    assert runner.model.config._attn_implementation == "tbench_attractor"
    with torch.no_grad():
        torch.testing.assert_close(runner.model(ids).logits, before)


def test_report_writes_json_parquet_and_figures(tmp_path):
    pytest.importorskip("matplotlib")
    rep = report.diagnose("pi-spiral(const=pi)", [64, 256], model="random:llama-tiny",
                          analyses=report.ANALYSES, stream_tokens=24, window=8)
    paths = report.write(rep, tmp_path)
    names = {p.name for p in paths}
    assert {"diagnose.json", "diagnose.parquet", "collision.png", "spectrum.png", "attention.png",
            "profile.png"} <= names
    data = json.loads((tmp_path / "diagnose.json").read_text())
    assert data["schema_version"] == 1 and {"collision", "spectral", "attention", "profile", "streaming"} <= set(
        data["sections"])
    table = pq.read_table(tmp_path / "diagnose.parquet")
    assert b"tbench.diagnose" in table.schema.metadata
    frame = table.to_pandas()
    row = frame[(frame.analysis == "collision") & (frame.encoding == "public-single(const=pi)")
                & (frame.length == 256) & (frame.metric == "min_at_delta")]
    assert row.value.item() == 113
    for p in paths:
        if p.suffix == ".png":
            assert p.stat().st_size > 10_000


def test_report_without_matplotlib_still_writes_tables(tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_mpl(name, *a, **k):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_mpl)
    rep = report.diagnose("rope", [32], analyses=("collision",), rot_dim=16, base=1e4)
    paths = report.write(rep, tmp_path)
    assert [p.name for p in paths] == ["diagnose.json", "diagnose.parquet"]


def app():
    a = typer.Typer()
    a.command()(diagnose)
    return a


def test_cli_renders_tables_and_writes_files(tmp_path):
    res = CliRunner().invoke(app(), ["hybrid(switch=64,width=16)", "--length", "128", "-a", "collision",
                                     "-a", "spectral", "--rot-dim", "32", "--no-compare", "--out", str(tmp_path)],
                             terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "collision" in res.output and "hybrid" in res.output
    assert (tmp_path / "diagnose.parquet").exists()


@pytest.mark.parametrize("args, match", [
    (["pi-spiral(const=tau)", "--out", "x"], "bad value 'tau'"),
    (["pi-spiral", "--length", "1"], "--length"),
    (["pi-spiral", "-a", "colision"], "unknown analysis"),
    (["alibi", "-a", "collision", "--rot-dim", "16", "--base", "10000"], "no rotary"),
    (["pi-spiral", "--rot-dim", "7"], "even"),
])
def test_cli_bad_input_exits_2_with_one_line(args, match, tmp_path):
    res = CliRunner().invoke(app(), [*args, "--out", str(tmp_path)], terminal_width=300)
    assert res.exit_code == 2, res.output
    assert match in res.output and "Traceback" not in res.output
