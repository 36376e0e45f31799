"""Perplexity / prefill throughput of a Qwen2-0.5B-shaped model: tbench vs bare HF vs lm-eval.

For each context length L, N documents of exactly L tokens are scored three ways on the same GPU in
one process:
  ceiling  a bare loop: base-model forward + chunked LM head/log-softmax (no full float32 logits)
  tbench   Runner.rolling_loglikelihood (length-sorted batches, chunked head)
  lm-eval  HFLM.loglikelihood_rolling on the same text (if lm_eval imports)
plus tbench with +alibi through the compiled FlexAttention kernel, which must not collapse to the
unfused path (the run fails loudly if it does).

    python benchmarks/prefill_throughput.py --lengths 4096 16384 32768 --out prefill.json
"""

from __future__ import annotations

import argparse
import sys
import warnings

import torch

from common import H100_BF16_PEAK, ascii_docs, dump, environment, flops_per_token, measure, qwen2_05b


def ceiling(model, docs, prefix, batch):
    from toroidal_bench.models.logprobs import token_logprobs

    total = 0.0
    with torch.inference_mode():
        for i in range(0, len(docs), batch):
            rows = [[prefix] + d for d in docs[i : i + batch]]
            ids = torch.tensor(rows, device="cuda")
            h = model.model(input_ids=ids[:, :-1], use_cache=False).last_hidden_state
            lp, _ = token_logprobs(h, model.get_output_embeddings(), ids[:, 1:])
            total += lp.double().sum().item()
    return total


def tbench_rolling(runner, docs, length):
    from toroidal_bench.tasks.base import Rolling

    out = runner.rolling_loglikelihood([Rolling(tuple(d), max_length=length) for d in docs])
    return sum(o.total for o in out)


def lm_eval_rolling(model, tok, docs, length, batch):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=model, tokenizer=tok, batch_size=batch, max_length=length)
    reqs = [Instance("loglikelihood_rolling", {}, (tok.decode(d),), i) for i, d in enumerate(docs)]
    return sum(lm.loglikelihood_rolling(reqs, disable_tqdm=True))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--lengths", type=int, nargs="+", default=[4096, 16384, 32768])
    p.add_argument("--tokens", type=int, default=1 << 18, help="tokens scored per length and method")
    p.add_argument("--out", default="prefill.json")
    args = p.parse_args()

    from toroidal_bench.models.byte_tokenizer import byte_tokenizer
    from toroidal_bench.models.runner import Runner

    tok = byte_tokenizer()
    model = qwen2_05b()
    runner = Runner(model, tok, spec="qwen2-0.5b-shape")
    try:
        import lm_eval  # noqa: F401
        have_lm_eval = True
    except ImportError:
        have_lm_eval = False
    results = {"environment": environment(), "lm_eval": have_lm_eval, "rows": []}
    failed = False
    for length in args.lengths:
        n = max(2, args.tokens // length)
        docs = ascii_docs(n, length, seed=length)
        batch = max(1, runner.max_batch_tokens // length)
        fpt = flops_per_token(model, length)
        row = {"length": length, "docs": n, "batch": batch}
        methods = {"ceiling": lambda: ceiling(model, docs, runner.prefix_id, batch),
                   "tbench": lambda: tbench_rolling(runner, docs, length)}
        if have_lm_eval:
            methods["lm_eval"] = lambda: lm_eval_rolling(model, tok, docs, length, batch)
        for name, fn in methods.items():
            fn_small = docs[:batch]  # warm-up on one batch (kernels, allocator)
            if name == "ceiling":
                ceiling(model, fn_small, runner.prefix_id, batch)
            elif name == "tbench":
                tbench_rolling(runner, fn_small, length)
            try:
                with measure() as m:
                    m["logprob_sum"] = fn()
            except torch.OutOfMemoryError as exc:
                row[name] = {"error": f"OOM: {str(exc).splitlines()[0]}"}
                torch.cuda.empty_cache()
                continue
            tps = n * length / m["seconds"]
            row[name] = {**m, "tok_s": tps, "mfu": tps * fpt / H100_BF16_PEAK}
        results["rows"].append(row)
        print(_line(row), flush=True)

    # ALiBi through compiled flex: same model weights, RoPE off, bias in the kernel
    from toroidal_bench.encodings.alibi import Alibi

    model.tbench_attention = "flex"
    Alibi().apply(model)
    alibi_runner = Runner(model, tok, spec="qwen2-0.5b-shape+alibi")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for row in results["rows"]:
            length = row["length"]
            docs = ascii_docs(row["docs"], length, seed=length)
            tbench_rolling(alibi_runner, docs[: row["batch"]], length)  # compile for this shape
            with measure() as m:
                m["logprob_sum"] = tbench_rolling(alibi_runner, docs, length)
            tps = row["docs"] * length / m["seconds"]
            row["tbench_alibi_flex"] = {**m, "tok_s": tps}
            ratio = tps / row["tbench"]["tok_s"]
            row["alibi_vs_rope"] = ratio
            print(f"L={length:>6} alibi-flex {tps:,.0f} tok/s = {ratio:.2f}x of rope-sdpa", flush=True)
            if ratio < 0.2:
                print(f"FAIL: flex throughput collapsed at L={length} ({ratio:.2f}x): unfused fallback?")
                failed = True
    collapse = [str(w.message) for w in caught if "recompile" in str(w.message).lower()
                or "without torch.compile" in str(w.message)]
    if collapse:
        print("FAIL: dynamo recompile limit / unfused flex warnings:", *collapse[:3], sep="\n  ")
        failed = True
    results["flex_warnings"] = collapse
    dump(args.out, results)
    return 1 if failed else 0


def _line(row) -> str:
    c = row["ceiling"].get("tok_s")
    parts = [f"L={row['length']:>6} B={row['batch']}"]
    for name in ("ceiling", "tbench", "lm_eval"):
        r = row.get(name)
        if not r:
            continue
        if "error" in r:
            parts.append(f"{name}: {r['error']}")
            continue
        parts.append(f"{name} {r['tok_s']:,.0f} tok/s ({r['tok_s'] / c:.2f}x, MFU {r['mfu']:.2f}, "
                     f"peak {r['peak_gib']:.1f} GiB)")
    return " | ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
