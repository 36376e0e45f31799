"""Decoding speed: tbench's greedy decoder vs transformers' `model.generate`, every number from one run.

Parts (random-init Qwen2-0.5B shape, bf16; `--smoke`: a tiny Qwen2 shape, also on the CPU):
  check   a left-padded batch decoded by every route the model allows (graph, static, eager) and by
          model.generate: are the tokens the same?
  single  one sequence, prompt L, N new tokens: end-to-end and decode-only tokens/s, wall time per
          decoding step vs the GPU's kernel time per step (torch.profiler), kernel launches per step,
          graphs dynamo compiled during the first and the timed generation
  batch   B passkey prompts of L tokens through Runner.generate vs model.generate: prompts/s, same outputs
  groups  RULER-like load: N random prompts of about L tokens, M new tokens, through Runner.generate
          in several modes — `after` (decode groups: sub-batched, unmasked prefills into one static
          cache, grouped-head decode attention), `before` (each prefill batch decoded alone, masked
          prefill, heads repeated), `masked_prefill` (`after` with left-padded, masked prefills),
          `groups_only`, `heads_only` — wall seconds, prefill seconds, prefill calls, decode groups

Decode-only figures subtract a 1-token generation (prefill + first token) from an N-token one, so
per step = (t(N) − t(1)) / (N − 1), for wall time and kernel time alike. The JSON is rewritten after
every measurement, so a run cut short keeps what it measured.

    PYTHONPATH=. python benchmarks/decode.py --out decode.json
    PYTHONPATH=. python benchmarks/decode.py --parts check --dtype float32 --out check32.json
    PYTHONPATH=. python benchmarks/decode.py --parts groups --encodings rope --out groups.json
    PYTHONPATH=. python benchmarks/decode.py --smoke --out smoke.json   # tiny sizes, CPU or GPU
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from common import qwen2_05b
from recorder import Recorder, compiles

from toroidal_bench.models.decoding import Decoder, Route

DEV = torch.device("cuda" if torch.cuda.is_available() else "cpu")
REC = Recorder(DEV, "decode.json")  # replaced in main()
ENCODINGS = ("rope", "alibi", "toroidal_d1", "attractor", "dynamic_ntk")
TINY_QWEN2 = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=512, max_position_embeddings=131072, tie_word_embeddings=True,
                  rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, bos_token_id=1,
                  eos_token_id=2, pad_token_id=0)


def build(a, encoding: str):
    """A fresh model (random init, seed 0) with `encoding` applied, and a Runner on it."""
    from toroidal_bench.models.byte_tokenizer import byte_tokenizer
    from toroidal_bench.models.runner import Runner

    dtype = getattr(torch, a.dtype) if a.dtype else torch.bfloat16 if DEV.type == "cuda" else torch.float32
    model = qwen2_05b(DEV, dtype, shape=TINY_QWEN2 if a.smoke else None)
    model.tbench_attention = "sdpa"
    if encoding == "alibi":
        from toroidal_bench.encodings.alibi import Alibi

        model.tbench_attention = "flex" if DEV.type == "cuda" else "sdpa"
        Alibi().apply(model)
    elif encoding.startswith("toroidal"):
        from toroidal_bench.encodings.toroidal import Toroidal

        enc = Toroidal(depth=1, lambda_=0.1, layers=tuple(range(model.config.num_hidden_layers)))
        enc.validate()
        enc.apply(model)
    elif encoding == "attractor":  # a summary slot in every layer's attention (the encoding's default)
        from toroidal_bench.encodings.pi_spiral.encodings import Attractor

        Attractor().apply(model)
    elif encoding == "dynamic_ntk":  # L0 4,096: frequencies change at every step beyond it
        from toroidal_bench.encodings.rope_scaling import DynamicNTK

        DynamicNTK(factor=4.0, original_max_position_embeddings=4096).apply(model)
    model.generation_config.eos_token_id = None  # timed runs make exactly N tokens
    tok = byte_tokenizer()
    return model, Runner(model, tok, spec=encoding, max_batch_tokens=a.batch * a.batch_length)


def prompts(vocab: int, lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded random prompts of the given lengths: ids, mask (B, max length)."""
    g = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for j, n in enumerate(lengths):
        ids[j, width - n:] = torch.randint(3, vocab, (n,), generator=g)
        mask[j, width - n:] = 1
    return ids.to(DEV), mask.to(DEV)


def hf_generate(model, ids, mask, new: int, eos=None) -> list[list[int]]:
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=mask, max_new_tokens=new, do_sample=False, pad_token_id=0,
                             eos_token_id=eos)
    return out[:, ids.shape[1]:].tolist()


def wall(fn) -> float:
    REC.sync()
    t0 = time.perf_counter()
    fn()
    REC.sync()
    return time.perf_counter() - t0


def kernels(fn) -> tuple[float, int]:
    """(GPU kernel milliseconds, kernel count) of one call of fn, from torch.profiler."""
    if DEV.type != "cuda":
        return 0.0, 0
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        REC.sync()
    events = [e for e in prof.events() if e.device_type == DeviceType.CUDA]
    return sum(e.time_range.elapsed_us() for e in events) / 1000, len(events)


# -- parts: each runs on one model, built once per encoding ------------------------------------------

def part_check(a, model, runner) -> dict:
    lengths = [a.check_length, a.check_length - 43, a.check_length - 100, a.check_length // 2]
    ids, mask = prompts(model.config.vocab_size, lengths, seed=1)
    allowed = {"graph": ["graph", "static", "eager"], "static": ["static", "eager"]}
    routes = allowed.get(runner.decoder.route.name, [runner.decoder.route.name])
    decoders = {r: Decoder(model, Route(r)) for r in routes}
    rows = {r: decoders[r].decode(ids, mask, a.check_new, [], 0) for r in routes}
    rows["generate"] = hf_generate(model, ids, mask, a.check_new)
    first = rows[routes[0]]
    out = {"route": runner.decode_route, "rows": len(lengths), "new_tokens": a.check_new,
           "ran": {r: str(d.last_route) for r, d in decoders.items()}}  # e.g. a graph whose capture failed
    for name, got in rows.items():
        if name == routes[0]:
            continue
        pairs = list(zip(first, got, strict=True))
        out[f"{routes[0]}_vs_{name}_identical_rows"] = sum(x == y for x, y in pairs)
        out[f"{routes[0]}_vs_{name}_first_difference"] = min(
            next((i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q), len(x)) for x, y in pairs)
    return out


def _timings(a, calls: dict, n: int) -> tuple[dict, list]:
    """Wall and kernel time of generating n and 1 tokens with `calls`; the n-token output."""
    c0 = compiles()
    result: list = []
    first_s = wall(lambda: result.append(calls[n]()))  # compiles, captures the graph
    c1 = compiles()
    t_n = min(wall(calls[n]) for _ in range(a.reps))
    c2 = compiles()
    wall(calls[1])
    t_1 = min(wall(calls[1]) for _ in range(a.reps))
    k_n, count_n = kernels(calls[a.prof_new])
    k_1, count_1 = kernels(calls[1])
    step_ms = (t_n - t_1) * 1000 / (n - 1)
    gpu_ms = (k_n - k_1) / (a.prof_new - 1)
    return {"first_call_s": first_s, "seconds": t_n, "end_to_end_tok_s": n / t_n,
            "decode_tok_s": (n - 1) / (t_n - t_1), "wall_ms_per_step": step_ms, "gpu_ms_per_step": gpu_ms,
            "wall_over_gpu": step_ms / gpu_ms if gpu_ms else None,
            "kernels_per_step": (count_n - count_1) / (a.prof_new - 1),
            "compiles_first_generation": c1 - c0, "compiles_timed_generation": c2 - c1}, result[0]


def _ours(decoder: Decoder, ids, mask, new: int):
    return lambda: decoder.decode(ids, mask, new, [], 0)


def _theirs(model, ids, mask, new: int):
    return lambda: hf_generate(model, ids, mask, new)


def part_single(a, model, runner) -> dict:
    out = {}
    for length in a.lengths:
        ids, mask = prompts(model.config.vocab_size, [length])
        n = a.new
        counts = (1, a.prof_new, n)
        decoders = {k: Decoder(model) for k in counts}  # a decoder each: no recapture
        tb = {k: _ours(decoders[k], ids, mask, k) for k in counts}
        hf = {k: _theirs(model, ids, mask, k) for k in counts}
        row: dict = {}
        row["tbench"], ours = _timings(a, tb, n)
        row["route"] = str(decoders[n].last_route)  # the route that ran (a failed capture says why)
        row["generate"], theirs = _timings(a, hf, n)
        row["same_tokens"] = ours == theirs
        row["tbench_vs_generate_decode"] = row["tbench"]["decode_tok_s"] / row["generate"]["decode_tok_s"]
        out[str(length)] = row
        del tb, hf
        REC.free()
    return out


def part_padded(a, model, runner) -> dict:
    """Compiles during a left-padded batch's generation (the toroidal flex path sees padding)."""
    ids, mask = prompts(model.config.vocab_size, [a.check_length, a.check_length - 77], seed=2)
    dec = Decoder(model)
    c0 = compiles()
    t = wall(lambda: dec.decode(ids, mask, a.new, [], 0))
    c1 = compiles()
    t2 = wall(lambda: dec.decode(ids, mask, a.new, [], 0))
    return {"route": str(dec.last_route), "new_tokens": a.new, "first_s": t, "second_s": t2,
            "compiles_first_generation": c1 - c0, "compiles_second_generation": compiles() - c1}


def part_batch(a, model, runner) -> dict:
    from toroidal_bench.models.runner import cut_at_stop
    from toroidal_bench.tasks.catalog import get_task

    tok = runner.tokenizer
    task = get_task("passkey")
    family = type(task.build())(**{**task.params, "num_samples": a.batch})
    reqs = [s.request for s in family.samples(tok, a.batch_length, seed=0, limit=a.batch)]
    widths = [len(r.prompt_ids) for r in reqs]
    base = REC.reset_peak()
    c0 = compiles()
    first = wall(lambda: runner.generate(reqs))
    c1 = compiles()
    outs: list = []
    t = wall(lambda: outs.extend(runner.generate(reqs)))
    peak = REC.peak_gib(base)
    ids, mask = runner._left_pad([list(r.prompt_ids) for r in reqs])
    new = reqs[0].max_new_tokens
    hf_generate(model, ids, mask, new, tok.eos_token_id)
    theirs: list = []
    th = wall(lambda: theirs.extend(hf_generate(model, ids, mask, new, tok.eos_token_id)))
    texts = [cut_at_stop(tok.decode(row, skip_special_tokens=True), reqs[0].stop) for row in theirs]
    return {"route": runner.decode_route, "prompts": len(reqs), "prompt_tokens": [min(widths), max(widths)],
            "new_tokens": new, "first_call_s": first, "compiles_first_generation": c1 - c0,
            "tbench_prompts_s": len(reqs) / t, "generate_prompts_s": len(reqs) / th, "tbench_vs_generate": th / t,
            "same_outputs": sum(x == y for x, y in zip(outs, texts, strict=True)), **peak}


#: mode → (decode groups, grouped-head decode attention, unmasked prefills)
GROUP_MODES = {"after": (True, True, True), "before": (False, False, False), "masked_prefill": (True, True, False),
               "groups_only": (True, False, False), "heads_only": (False, True, False)}


def part_groups(a, model, runner) -> dict:
    """Runner.generate on a RULER-like cell, once per mode; each mode's record is saved as it ends."""
    from toroidal_bench.models import decoding
    from toroidal_bench.models.runner import Runner
    from toroidal_bench.tasks.base import Generate

    g = torch.Generator().manual_seed(3)
    top = a.group_length - a.group_new  # RULER's prompt budget: the length less the answer budget
    widths = torch.randint(top - a.group_spread, top + 1, (a.group_prompts,), generator=g).tolist()
    vocab = model.config.vocab_size
    reqs = [Generate(tuple(torch.randint(3, vocab, (w,), generator=g).tolist()), a.group_new) for w in widths]
    warm = [Generate(tuple(range(3, 3 + w)), 4) for w in (a.group_length // 64, a.group_length // 80)]
    modes = REC.results.setdefault("groups_modes", {})
    texts: dict = {}
    for mode in a.group_modes:
        groups, heads, unmasked = GROUP_MODES[mode]
        tb = Runner(model, runner.tokenizer, max_batch_tokens=a.group_batch_tokens, group_decoding=groups)
        tb.decoder.grouped_heads, tb.decoder.unmasked_prefill = heads, unmasked
        REC.guarded(modes, mode, lambda tb=tb, mode=mode: _time_groups(tb, reqs, warm, texts, mode, decoding))
        del tb
    out = {"prompts": len(reqs), "prompt_tokens": [min(widths), max(widths)], "new_tokens": a.group_new,
           "max_batch_tokens": a.group_batch_tokens, "modes": list(modes)}
    for mode in ("before", "masked_prefill", "groups_only", "heads_only"):
        if "seconds" in modes.get("after", {}) and "seconds" in modes.get(mode, {}):
            out[f"after_vs_{mode}_speedup"] = modes[mode]["seconds"] / modes["after"]["seconds"]
            out[f"after_vs_{mode}_identical_outputs"] = sum(x == y for x, y in zip(texts["after"], texts[mode],
                                                                                   strict=True))
    return out


def _time_groups(tb, reqs, warm, texts: dict, mode: str, decoding) -> dict:
    """Wall time of tb.generate(reqs); its prefills' time (synced around each), groups and their sizes."""
    tb.generate(warm)  # kernels, allocator and cuBLAS warm; the timed call captures its own graphs
    prefills, groups = [], []
    real = {name: getattr(decoding, name) for name in ("_prefill", "_prefill_unmasked")}
    real_parts = tb.decoder.decode_parts

    def timed(prefill):
        def run(model, ids, mask):
            REC.sync()
            t0 = time.perf_counter()
            result = prefill(model, ids, mask)
            REC.sync()
            prefills.append(time.perf_counter() - t0)
            return result
        return run

    def counted_parts(parts, *args, **kwargs):
        groups.append((sum(ids.shape[0] for ids, _ in parts), len(parts)))
        return real_parts(parts, *args, **kwargs)

    for name, prefill in real.items():
        setattr(decoding, name, timed(prefill))
    tb.decoder.decode_parts = counted_parts
    base = REC.reset_peak()
    try:
        outs: list = []
        seconds = wall(lambda: outs.extend(tb.generate(reqs)))
    finally:
        for name, prefill in real.items():
            setattr(decoding, name, prefill)
        del tb.decoder.decode_parts
    texts[mode] = outs
    sizes = sorted({rows for rows, _ in groups}, reverse=True)
    return {"seconds": seconds, "s_per_prompt": seconds / len(reqs), "prefill_s": sum(prefills),
            "decode_s": seconds - sum(prefills), "prefill_calls": len(prefills), "decode_groups": len(groups),
            "group_rows": sizes, "route": str(tb.decoder.last_route), **REC.peak_gib(base)}


PARTS = {"check": part_check, "single": part_single, "padded": part_padded, "batch": part_batch,
         "groups": part_groups}


def run_encoding(a, encoding: str) -> None:
    """Every part on one model with `encoding`; each result (or error) stored under results[part][encoding]."""
    built: dict = {}

    def load():
        built["model"], built["runner"] = build(a, encoding)
        return {"route": built["runner"].decode_route}

    REC.guarded(REC.results.setdefault("build", {}), encoding, load)
    for part in a.parts if built else ():
        REC.guarded(REC.results.setdefault(part, {}), encoding, _part(a, part, built))


def _part(a, part: str, built: dict):
    return lambda: PARTS[part](a, built["model"], built["runner"])


def main() -> int:
    global REC
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    p.add_argument("--encodings", nargs="+", default=list(ENCODINGS), choices=list(ENCODINGS))
    p.add_argument("--lengths", nargs="+", type=int, default=[1024, 8192])
    p.add_argument("--new", type=int, default=128)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--prof-new", type=int, default=16, help="new tokens of the profiled generation")
    p.add_argument("--check-length", type=int, default=1000)
    p.add_argument("--check-new", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--batch-length", type=int, default=8192)
    p.add_argument("--group-prompts", type=int, default=100)
    p.add_argument("--group-length", type=int, default=32768, help="RULER length: prompts take it less the new tokens")
    p.add_argument("--group-new", type=int, default=128)
    p.add_argument("--group-spread", type=int, default=256, help="prompts are up to this many tokens shorter")
    p.add_argument("--group-batch-tokens", type=int, default=65536, help="the Runner's max_batch_tokens")
    p.add_argument("--group-modes", nargs="+", default=["after", "before"], choices=list(GROUP_MODES))
    p.add_argument("--dtype", choices=["bfloat16", "float32"], default=None, help="default: bf16 on GPU")
    p.add_argument("--smoke", action="store_true", help="tiny model and sizes (a test of this script)")
    p.add_argument("--out", default="decode.json")
    a = p.parse_args()
    if a.smoke:
        a.lengths, a.new, a.reps, a.prof_new, a.check_length, a.check_new = [64, 200], 12, 1, 6, 150, 10
        a.batch, a.batch_length = 3, 512
        a.group_prompts, a.group_length, a.group_new, a.group_spread, a.group_batch_tokens = 6, 160, 6, 40, 300
    REC = Recorder(DEV, a.out)
    REC.results["environment"] = REC.environment()
    REC.results["args"] = vars(a)
    for encoding in a.encodings:
        print(encoding, flush=True)
        run_encoding(a, encoding)
        REC.free()
    REC.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
