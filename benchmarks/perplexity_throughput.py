"""Throughput and peak memory of each perplexity protocol against a bare chunked forward loop.

For each protocol and context length L, the same documents are scored twice on one GPU in one
process, after a warm-up on the first window batch of each:
  protocol  tbench's path: the protocol's Rolling requests (tasks/perplexity/protocols.py) →
            Runner.rolling_loglikelihood (length-sorted, left-padded batches, chunked LM head) →
            the family's scores (per-document figures and NLL by position)
  bare      the same windows (models/windows.py) run by a plain loop: windows of one length batched
            under the same token budget, base-model forward without masks or position ids, and the
            LM head + log-softmax in chunks over the scored positions only (no full float32 logits)
Reported per row: scored and processed tokens per second, protocol ÷ bare, peak GiB of each, and the
relative difference of the two log-likelihood sums (the bare loop is also a correctness check).

Documents (random printable ASCII in the byte tokenizer; the LM head has the model's full vocabulary):
  disjoint, sliding (stride L/2)  documents of `--doc-factor` × L tokens
  at-length (stride 256)          documents of L + (W − 1) × 256 tokens: W windows of L each

Model shapes (random weights, bf16, SDPA): `1.5b` = Qwen2.5-1.5B (28 layers, hidden 1536, 12 q /
2 kv heads, vocab 151,936, tied embeddings), `0.5b` = Qwen2-0.5B (benchmarks/common.py).

    PYTHONPATH=. python benchmarks/perplexity_throughput.py --out perplexity.json
    PYTHONPATH=. python benchmarks/perplexity_throughput.py --lengths 131072 --protocols at-length --out ppl128k.json
"""

from __future__ import annotations

import argparse
import sys
from functools import partial

import torch
from common import QWEN2_05B, ascii_docs, dump, environment, measure

#: Qwen2.5-1.5B architecture (random weights are fine for speed)
QWEN25_15B = dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                  num_key_value_heads=2, vocab_size=151936, max_position_embeddings=131072,
                  tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                  bos_token_id=1, eos_token_id=2, pad_token_id=0)
SHAPES = {"1.5b": QWEN25_15B, "0.5b": QWEN2_05B}
PROTOCOLS = ("disjoint", "sliding", "at-length")


def build(shape: str):
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model("qwen2", **SHAPES[shape])
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16, attn_implementation="sdpa")
    return model.eval()


def documents(protocol: str, length: int, args) -> list[list[int]]:
    if protocol == "at-length":
        doc_len = length + (args.at_length_windows - 1) * 256
    else:
        doc_len = args.doc_factor * length
    n = max(1, args.tokens // doc_len)
    return ascii_docs(n, doc_len, seed=length)


def protocol_path(runner, family, protocol: str, length: int, docs: list[list[int]]):
    """tbench's path from token ids to scores; returns the summed log-likelihood."""
    from toroidal_bench.tasks.base import Sample
    from toroidal_bench.tasks.perplexity import windows

    win = windows(protocol, length)
    requests = [win.request(d)[0] for d in docs]
    outputs = runner.rolling_loglikelihood(requests)
    total = 0.0
    for r, o in zip(requests, outputs, strict=True):
        sample = Sample(id="d", request=r, reference=None, prompt="",
                        meta={"length": length, "positions": True})
        total -= family.score(sample, o)["nll"]
    return total


def windows_of(runner, protocol: str, length: int, docs: list[list[int]]):
    """The windows the runner builds for these documents: (token ids, number scored)."""
    from toroidal_bench.models.windows import disjoint_windows, strided_windows
    from toroidal_bench.tasks.perplexity import windows

    win = windows(protocol, length)
    out = []
    for d in docs:
        r = win.request(d)[0]
        out += (strided_windows(r.token_ids, runner.prefix_id, r.max_length, r.stride) if r.stride
                else disjoint_windows(r.token_ids, runner.prefix_id, r.max_length))
    return out


def bare_loop(model, wins, batch_tokens: int) -> float:
    """Plain batched forward over the windows, LM head on the scored positions in chunks."""
    from toroidal_bench.models.logprobs import token_logprobs

    by_shape: dict[tuple[int, int], list] = {}
    for tokens, n in wins:
        by_shape.setdefault((len(tokens), n), []).append(tokens)
    total = 0.0
    head = model.get_output_embeddings()
    with torch.inference_mode():
        for (width, n), group in by_shape.items():
            per_batch = max(1, batch_tokens // (width - 1))
            for i in range(0, len(group), per_batch):
                ids = torch.tensor(group[i : i + per_batch], device="cuda")  # (B, width)
                hidden = model.model(input_ids=ids[:, :-1], use_cache=False).last_hidden_state[:, -n:]
                lp, _ = token_logprobs(hidden, head, ids[:, -n:])
                total += lp.double().sum().item()
    return total


def timed(warm_up, run) -> dict:
    """Seconds, peak memory and the log-likelihood sum of `run()`, measured after `warm_up()`."""
    try:
        warm_up()  # kernels, allocator, the first batch's shapes
        with measure() as m:
            m["logprob_sum"] = run()
    except torch.OutOfMemoryError as exc:
        torch.cuda.empty_cache()
        return {"error": f"OOM: {str(exc).splitlines()[0]}"}
    return m


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--shape", choices=sorted(SHAPES), default="1.5b")
    p.add_argument("--lengths", type=int, nargs="+", default=[4096, 32768, 131072])
    p.add_argument("--protocols", nargs="+", choices=PROTOCOLS, default=list(PROTOCOLS))
    p.add_argument("--tokens", type=int, default=1 << 19, help="document tokens per (protocol, length)")
    p.add_argument("--doc-factor", type=int, default=4, help="disjoint/sliding documents are this many × L")
    p.add_argument("--at-length-windows", type=int, default=4, help="windows per at-length document")
    p.add_argument("--out", default="perplexity.json")
    args = p.parse_args()

    from toroidal_bench.models.byte_tokenizer import byte_tokenizer
    from toroidal_bench.models.runner import Runner
    from toroidal_bench.tasks.perplexity import Perplexity

    model = build(args.shape)
    runner = Runner(model, byte_tokenizer(), spec=f"qwen-{args.shape}-shape")
    family = Perplexity()
    report = {"environment": environment(), "shape": args.shape, "max_batch_tokens": runner.max_batch_tokens,
              "rows": []}
    worst = 1.0
    for length in args.lengths:
        for protocol in args.protocols:
            docs = documents(protocol, length, args)
            wins = windows_of(runner, protocol, length, docs)
            first = [w for w in wins if len(w[0]) == len(wins[0][0])][: max(1, runner.max_batch_tokens // length)]
            row = {"protocol": protocol, "length": length, "docs": len(docs), "doc_tokens": len(docs[0]),
                   "windows": len(wins), "scored_tokens": sum(n for _, n in wins),
                   "processed_tokens": sum(len(t) - 1 for t, _ in wins)}
            row["bare"] = timed(partial(bare_loop, model, first, runner.max_batch_tokens),
                                partial(bare_loop, model, wins, runner.max_batch_tokens))
            row["tbench"] = timed(partial(protocol_path, runner, family, protocol, length, docs[:1]),
                                  partial(protocol_path, runner, family, protocol, length, docs))
            for name in ("bare", "tbench"):
                r = row[name]
                if "seconds" in r:
                    r["scored_tok_s"] = row["scored_tokens"] / r["seconds"]
                    r["processed_tok_s"] = row["processed_tokens"] / r["seconds"]
            if "seconds" in row["bare"] and "seconds" in row["tbench"]:
                row["ratio"] = row["bare"]["seconds"] / row["tbench"]["seconds"]
                a, b = row["bare"]["logprob_sum"], row["tbench"]["logprob_sum"]
                row["logprob_rel_diff"] = abs(a - b) / abs(a)
                worst = min(worst, row["ratio"])
            report["rows"].append(row)
            print(_line(row), flush=True)
    report["worst_ratio"] = worst
    dump(args.out, report)
    print(f"worst protocol ÷ bare: {worst:.3f} (target ≥ 0.95)")
    return 0


def _line(row) -> str:
    head = (f"{row['protocol']:>9} L={row['length']:>6} docs={row['docs']} windows={row['windows']} "
            f"scored={row['scored_tokens']:,}")
    parts = [head]
    for name in ("bare", "tbench"):
        r = row[name]
        if "error" in r:
            parts.append(f"{name}: {r['error']}")
        else:
            parts.append(f"{name} {r['processed_tok_s']:,.0f} processed tok/s, peak {r['peak_gib']:.1f} GiB")
    if "ratio" in row:
        parts.append(f"tbench/bare {row['ratio']:.3f}, |Δ logprob| rel {row['logprob_rel_diff']:.1e}")
    return " | ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
