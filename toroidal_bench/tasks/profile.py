"""Cost as a task: prefill and decoding speed and memory of a cell's model at the cell's length,
written as result rows so a suite can compare and gate them per encoding (π-Spiral's phase 8).

Each repeat is one "sample" (ids `repeat-0`, `repeat-1`, …; `limit` sets how many, default 3), so
the mean over repeats is the cell's figure and its bootstrap CI the timing noise. A warm-up pass
runs first and is not recorded: it pays compilation (flex kernels) and allocator growth, which
`tbench diagnose --analysis profile` shows apart.

  prefill_tokens_per_s  one forward pass over `length` random tokens (batch 1), with a KV cache and
                        the logits of the last token only
  decode_tokens_per_s   greedy decoding of `new_tokens` tokens after that prefill, one token per forward
  state_bytes           what the stream carries after the prefill: every KV tensor plus attractor
                        states (exact on every device)
  peak_bytes            the device allocator's peak over the prefill (CUDA only: on the CPU there is
                        no per-call peak, so the metric is absent rather than made up)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import task_family
from .base import Rolling, Sample, TaskFamily

DEFAULT_REPEATS = 3


@task_family("profile")
class Profile(TaskFamily):
    version = "1"
    parameters = {"new_tokens": "count"}
    metrics = ("prefill_tokens_per_s", "decode_tokens_per_s", "state_bytes", "peak_bytes")

    def evaluate(self, runner: Any, length: int, seed: int, limit: int | None,
                 progress: Callable[[int], None] | None = None) -> list[tuple[Sample, Any, dict[str, float]]]:
        from ..diagnostics import profile

        new_tokens = int(self.params.get("new_tokens", 32))
        prompt = max(1, length - new_tokens)
        profile.prefill_profile(runner.model, [prompt], repeats=1)  # warm-up: compiles, grows the allocator
        out = []
        for i in range(limit or DEFAULT_REPEATS):
            prefill = profile.prefill_profile(runner.model, [prompt], repeats=1)[0]
            decode = profile.decode_profile(runner.model, prompt, new_tokens)
            scores = {"prefill_tokens_per_s": prefill.tokens_per_s, "decode_tokens_per_s": decode.tokens_per_s,
                      "state_bytes": float(prefill.state_bytes)}
            if prefill.peak_bytes is not None:
                scores["peak_bytes"] = float(prefill.peak_bytes)
            sample = Sample(id=f"repeat-{i}", request=Rolling(()), reference=None,
                            prompt=f"{prompt} random tokens, then {new_tokens} decoded",
                            meta={"prompt_tokens": prompt, "new_tokens": new_tokens, "device": prefill.device,
                                  "prefill_s": prefill.seconds, "decode_s": decode.seconds})
            out.append((sample, None, scores))
            if progress:
                progress(1)
        return out
