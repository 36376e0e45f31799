"""Generation-heavy throughput: passkey prompts at 8k tokens through greedy generate.

tbench's Runner.generate (length-sorted, left-padded batches, KV cache) vs lm-eval's HFLM
generate_until on the same prompts, same model, same GPU, one process. Also checks that both
produce the same outputs (greedy decoding of the same model).

    python benchmarks/generation.py --prompts 64 --length 8192 --out generation.json
"""

from __future__ import annotations

import argparse
import sys

from common import dump, environment, measure, qwen2_05b


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--prompts", type=int, default=64)
    p.add_argument("--length", type=int, default=8192)
    p.add_argument("--batch", type=int, default=16, help="lm-eval batch size (tbench packs by tokens)")
    p.add_argument("--out", default="generation.json")
    args = p.parse_args()

    from toroidal_bench.models.byte_tokenizer import byte_tokenizer
    from toroidal_bench.models.runner import Runner
    from toroidal_bench.tasks.catalog import get_task

    tok = byte_tokenizer()
    model = qwen2_05b()
    runner = Runner(model, tok, spec="qwen2-0.5b-shape", max_batch_tokens=args.batch * args.length)
    task = get_task("passkey")
    family = type(task.build())(**{**task.params, "num_samples": args.prompts})
    samples = list(family.samples(tok, args.length, seed=0, limit=args.prompts))
    reqs = [s.request for s in samples]
    results = {"environment": environment(), "prompts": len(reqs), "length": args.length}

    runner.generate(reqs[:2])  # warm-up
    with measure() as m:
        outs = runner.generate(reqs)
    results["tbench"] = {**m, "prompts_s": len(reqs) / m["seconds"]}
    print(f"tbench  {results['tbench']['prompts_s']:.2f} prompts/s, peak {m['peak_gib']:.1f} GiB", flush=True)

    try:
        from lm_eval.api.instance import Instance
        from lm_eval.models.huggingface import HFLM
    except ImportError:
        results["lm_eval"] = {"error": "lm_eval not importable"}
    else:
        lm = HFLM(pretrained=model, tokenizer=tok, batch_size=args.batch, max_length=args.length + 16)
        gen = {"until": [], "max_gen_toks": reqs[0].max_new_tokens, "do_sample": False}
        texts = [tok.decode(r.prompt_ids, skip_special_tokens=True) for r in reqs]  # lm-eval adds BOS itself
        inst = [Instance("generate_until", {}, (t, dict(gen)), i) for i, t in enumerate(texts)]
        lm.generate_until(inst[:2], disable_tqdm=True)
        with measure() as m:
            lm_outs = lm.generate_until(inst, disable_tqdm=True)
        results["lm_eval"] = {**m, "prompts_s": len(inst) / m["seconds"]}
        same = sum(a.strip() == b.strip() for a, b in zip(outs, lm_outs, strict=True))
        results["same_outputs"] = same
        ratio = results["tbench"]["prompts_s"] / results["lm_eval"]["prompts_s"]
        results["tbench_vs_lm_eval"] = ratio
        print(f"lm-eval {results['lm_eval']['prompts_s']:.2f} prompts/s, peak {m['peak_gib']:.1f} GiB; "
              f"tbench/lm-eval = {ratio:.2f}x; identical outputs {same}/{len(inst)}", flush=True)
    dump(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
