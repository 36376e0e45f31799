"""Flex BlockMasks from tile index ranges (attention/blockmask.py): the same tiles as create_block_mask,
built without ever evaluating the mask on L × L pairs — for ALiBi's causal/padded masks and for the
toroidal flex path (sub-token groups, circular windows, key padding)."""

import random

import pytest
import torch

pytest.importorskip("torch.nn.attention.flex_attention")

from torch.nn.attention import flex_attention as fa  # noqa: E402

from toroidal_bench.attention import blockmask, flex  # noqa: E402
from toroidal_bench.encodings.toroidal import ToroidalAttention, backends  # noqa: E402


def _dense_tiles(bm, n_kv):
    """(partial, full) bool tiles (B, n_q, n_kv) of a BlockMask."""
    partial = fa._ordered_to_dense(bm.kv_num_blocks, bm.kv_indices, n_kv).bool()[:, 0]
    full = fa._ordered_to_dense(bm.full_kv_num_blocks, bm.full_kv_indices, n_kv).bool()[:, 0]
    return partial, full


def _case(seed):
    rnd = random.Random(seed)
    depth, nq, block = rnd.choice([1, 2, 3, 4]), rnd.randint(1, 90), rnd.choice([8, 16, 32])
    off = rnd.choice([0, rnd.randint(0, 40)])
    c = dict(depth=depth, nq=nq, off=off, causal=rnd.random() < 0.8, window=rnd.choice([None, rnd.randint(0, 30)]),
             period=rnd.randint(2, 150), block=block, batch=rnd.choice([1, 2]))
    c["key_valid"] = None
    if rnd.random() < 0.4:
        g = torch.Generator().manual_seed(seed)
        c["key_valid"] = torch.rand(c["batch"], nq + off, generator=g) < 0.7
    return c


@pytest.mark.parametrize("seed", range(60))
def test_tiles_equal_create_block_mask(seed):
    c = _case(seed)
    depth, off, period, window, kv = c["depth"], c["off"], c["period"], c["window"], c["key_valid"]
    lq, lk = c["nq"] * depth, (c["nq"] + off) * depth

    def mask_mod(b, h, qi, ki):
        i, j = qi // depth + off, ki // depth
        ok = j >= 0
        if c["causal"]:
            ok = ok & (j <= i)
        if window is not None:
            t = (i - j).abs() % period
            ok = ok & (torch.minimum(t, period - t) <= window)
        if kv is not None:
            ok = ok & kv[b, j]
        return ok

    want = fa.create_block_mask(mask_mod, None if kv is None else c["batch"], None, lq, lk, device="cpu",
                                BLOCK_SIZE=c["block"])
    got = blockmask.block_mask(mask_mod, lq, lk, device="cpu", group=depth, q_offset=off, causal=c["causal"],
                               window=window, period=period, key_valid=kv, block=c["block"])
    n_kv = -(-lk // c["block"])
    (wp, wf), (gp, gf) = _dense_tiles(want, n_kv), _dense_tiles(got, n_kv)
    assert torch.equal(gf.expand_as(wf), wf)  # a full tile skips the mask: must be exact
    if kv is None:
        assert torch.equal(gp.expand_as(wp), wp)
    else:  # with padding, a tile may be kept as partial although no pair survives (harmless)
        assert bool((wp <= (gp | gf)).all())


def test_long_masks_never_evaluate_l_by_l(monkeypatch):
    """256k positions: an L × L mask would be 64 GiB of bools; the tiles are 2048² entries."""

    def boom(*a, **k):
        raise AssertionError("per-element mask evaluation over L × L")

    monkeypatch.setattr(fa, "create_mask", boom)
    monkeypatch.setattr(fa, "create_block_mask", boom)
    n = 1 << 18
    flex.causal_block_mask.cache_clear()
    bm = flex.causal_block_mask(n, n, "cpu")
    tiles = n // 128
    assert bm.kv_indices.shape == (1, 1, tiles, tiles)
    assert bm.kv_num_blocks.sum() == tiles  # the diagonal tiles are partial
    assert bm.full_kv_num_blocks.sum() == tiles * (tiles - 1) // 2  # everything below is full
    key_valid = torch.ones(2, n, dtype=torch.bool)
    key_valid[1, :1000] = False  # left padding
    padded = flex.padded_causal_block_mask(key_valid, n)
    assert padded.full_kv_num_blocks[1].sum() < padded.full_kv_num_blocks[0].sum()
    toroidal = blockmask.block_mask(lambda b, h, q, k: q >= k, n, n, device="cpu", group=4, window=5000,
                                    period=1 << 16)
    assert toroidal.kv_indices.shape == (1, 1, tiles, tiles)


def test_toroidal_flex_builds_masks_from_tiles(monkeypatch):
    """The toroidal flex path (eager flex here) with padding and a window never calls create_block_mask."""
    monkeypatch.setattr(backends, "FLEX_COMPILE", False)
    torch.manual_seed(0)
    attn = ToroidalAttention(128, 2, max_len=8, depth=4, lambda_distance=0.7, causal=True, window_size=2,
                             period=6).eval()
    x = torch.randn(2, 40, 128)
    pad = torch.ones(2, 40, dtype=torch.bool)
    pad[1, 30:] = False
    with torch.no_grad():
        attn.core.backend = "sdpa"
        ref = attn(x, pad)[0]

        def boom(*a, **k):
            raise AssertionError("create_block_mask called")

        monkeypatch.setattr(fa, "create_block_mask", boom)
        attn.core.backend = "flex"
        out = attn(x, pad)[0]
    assert attn.core.last_route == "flex"
    assert torch.allclose(out[pad], ref[pad], atol=1e-5)


def test_flex_mods_take_python_constants_and_skip_the_modulo_without_wrap():
    from toroidal_bench.encodings.toroidal.masks import Geometry

    g = Geometry(depth=2, lam=0.5, period=64, scale=0.3, causal=True)
    score_mod, _ = backends.flex_mods(g, torch.device("cpu"), 20, 20)
    cells = {type(c.cell_contents).__name__ for c in score_mod.__closure__}
    assert "Tensor" not in cells  # λ, P, D and a zero offset are compiled in as constants
    decoding = backends.flex_mods(g.replace(q_offset=9), torch.device("cpu"), 2, 20)[0]
    offsets = [c.cell_contents for c in decoding.__closure__ if isinstance(c.cell_contents, torch.Tensor)]
    assert len(offsets) == 1 and offsets[0].dim() == 0  # only the offset, which changes every step
    assert not backends._wraps(g, 20, 20) and backends._wraps(g.replace(period=17), 20, 20)
