"""tbench as an lm-evaluation-harness model: any spec, encodings included, behind lm-eval's LM API.

Importing this module registers the model as `tbench` in lm-eval's registry. Each lm-eval Instance
is tokenized once with the runner's tokenizer and becomes one of the Runner's three request kinds,
so lm-eval tasks run through the same batching and scoring code as tbench's own tasks:

  loglikelihood          (context, continuation) → LogLikelihood. The text is split into tokens the
                         way lm-eval's TemplateLM does it (trailing context spaces move to the
                         continuation; an empty context becomes the prefix token), then the left
                         end is cut so the model reads at most max_length tokens, as lm-eval's HF
                         model does.
  loglikelihood_rolling  (text,) → Rolling: lm-eval's disjoint windows of max_length tokens after
                         the prefix token (BOS, else EOS). The text is encoded without special
                         tokens, so the scored tokens never start with a second BOS.
  generate_until         (context, gen_kwargs) → Generate: greedy, `until` stop strings,
                         `max_gen_toks` (default 256, as lm-eval's HF model); the context keeps its
                         last max_length − max_gen_toks tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lm_eval.models  # noqa: F401  lm-eval adds its own models only to an empty registry: first theirs, then ours
from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model

from ..errors import UsageError
from ..tasks.base import Generate, LogLikelihood, Request, Rolling

DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's HF model default


@register_model("tbench")
class TbenchLM(TemplateLM):
    """model_args: spec (required), device, dtype, max_batch_tokens, max_length, attn,
    trust_remote_code. From Python, pass `runner=` to wrap an already-loaded Runner instead."""

    def __init__(self, spec: str | None = None, *, runner: Any = None, device: str | None = None,
                 dtype: str | None = None, max_batch_tokens: int | None = None, max_length: int | None = None,
                 attn: str = "sdpa", trust_remote_code: bool = False, batch_size: Any = None,
                 max_batch_size: Any = None, record_requests: bool = False):
        # batch_size / max_batch_size come from lm-eval's CLI; the runner packs batches by tokens instead
        super().__init__()
        if (spec is None) == (runner is None):
            raise UsageError("the tbench lm-eval model needs spec=... (or, from Python, runner=...)",
                             "e.g. --model_args spec=random:llama-tiny+alibi")
        if runner is None:
            from ..models import load

            runner = load(str(spec), device=_usable(device), dtype=dtype, attn=attn, trust_remote_code=bool(trust_remote_code),
                          max_batch_tokens=_positive("max_batch_tokens", max_batch_tokens))
        self.runner = runner
        self.tokenizer = runner.tokenizer
        self._device = runner.device
        self._max_length = _positive("max_length", max_length)
        self.record_requests = record_requests
        #: (lm-eval task name, doc id) → (the first request sent for that doc, tokens cut from its left)
        self.sent: dict[tuple[str | None, int | None], tuple[Request, int]] = {}

    # -- what lm-eval asks of a TemplateLM ------------------------------------------------------
    @property
    def eot_token_id(self) -> int:
        return self.tokenizer.eos_token_id

    @property
    def prefix_token_id(self) -> int:
        return self.runner.prefix_id

    @property
    def max_length(self) -> int:
        return self._max_length or self.runner.max_length

    @property
    def max_gen_toks(self) -> int:
        return DEFAULT_MAX_GEN_TOKS

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs: Any) -> list[int]:
        if add_special_tokens is None:
            # the tokenizer's default, except for text that already starts with BOS (chat templates)
            bos = self.tokenizer.bos_token
            add_special_tokens = not (bos and string.startswith(bos))
        return list(self.tokenizer(string, add_special_tokens=add_special_tokens)["input_ids"])

    def get_model_info(self) -> dict[str, Any]:
        return {"tbench_spec": self.runner.spec, "tbench_spec_hash": self.runner.spec_hash}

    # -- the three request types ----------------------------------------------------------------
    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        fitted = [self._fit(*self._encode_ll(*r.args)) for r in requests]
        self._remember(requests, fitted)
        out = self.runner.loglikelihood([q for q, _ in fitted])
        return self._cached("loglikelihood", requests, out)

    def _loglikelihood_tokens(self, requests, **kwargs: Any) -> list[tuple[float, bool]]:
        return self.runner.loglikelihood([self._fit(ctx, cont)[0] for _, ctx, cont in requests])

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        reqs = [Rolling(tuple(self.tok_encode(r.args[0], add_special_tokens=False)), self.max_length)
                for r in requests]
        self._remember(requests, [(q, 0) for q in reqs])
        out = [scores.total for scores in self.runner.rolling_loglikelihood(reqs)]
        return self._cached("loglikelihood_rolling", requests, out)

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        built = [self._generate_request(*r.args) for r in requests]
        self._remember(requests, built)
        out = self.runner.generate([q for q, _ in built])
        return self._cached("generate_until", requests, out)

    # -- internals ------------------------------------------------------------------------------
    def _encode_ll(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        if context:
            return self._encode_pair(context, continuation)
        cont = self.tok_encode(continuation, add_special_tokens=False)
        # no context: condition on the prefix token, unless the continuation already starts with it
        if cont and cont[0] == self.prefix_token_id:
            return cont[:1], cont[1:]
        return [self.prefix_token_id], cont

    def _fit(self, ctx: Sequence[int], cont: Sequence[int]) -> tuple[LogLikelihood, int]:
        """Cut the context's left end so the model reads at most max_length tokens."""
        if not cont:
            raise ValueError("lm-eval sent a loglikelihood request with an empty continuation")
        if len(cont) > self.max_length:
            raise ValueError(f"a continuation of {len(cont)} tokens does not fit max_length {self.max_length}")
        cut = max(0, len(ctx) + len(cont) - (self.max_length + 1))  # the last token is predicted, never read
        return LogLikelihood(tuple(ctx[cut:]), tuple(cont)), cut

    def _generate_request(self, context: str, gen_kwargs: dict | None) -> tuple[Generate, int]:
        until, max_new = generation_settings(gen_kwargs)
        room = self.max_length - max_new
        if room <= 0:
            raise UsageError(f"max_gen_toks {max_new} leaves no room for a prompt in max_length {self.max_length}")
        ids = self.tok_encode(context)
        cut = max(0, len(ids) - room)
        return Generate(tuple(ids[cut:]), max_new, tuple(until)), cut

    def _remember(self, requests, built: list[tuple[Request, int]]) -> None:
        if self.record_requests:
            for inst, item in zip(requests, built, strict=True):
                if inst.idx == 0:
                    self.sent[(inst.task_name, inst.doc_id)] = item

    def _cached(self, kind: str, requests, out: list) -> list:
        for r, o in zip(requests, out, strict=True):
            self.cache_hook.add_partial(kind, r.args, o)  # fills lm-eval's --use_cache database
        return out


def generation_settings(gen_kwargs: dict | None) -> tuple[list[str], int]:
    """(stop strings, max new tokens) from an lm-eval generation_kwargs mapping; greedy only."""
    kw = dict(gen_kwargs or {})
    until = kw.get("until") or []
    until = [until] if isinstance(until, str) else list(until)
    sampling = kw.get("do_sample")
    if sampling is None:
        sampling = float(kw.get("temperature") or 0.0) > 0.0
    if sampling:
        raise UsageError("the task asks for sampling (do_sample / temperature > 0); tbench decodes greedily",
                         "set do_sample: false in the task's generation_kwargs")
    aliases = ("max_gen_toks", "max_new_tokens", "max_tokens")
    max_new = next((kw[k] for k in aliases if kw.get(k) is not None), DEFAULT_MAX_GEN_TOKS)
    return until, int(max_new)


def _usable(device: str | None) -> str | None:
    """lm-eval's CLI passes device cuda:0 unless told otherwise, CUDA or not; like lm-eval's own HF
    model, fall back to the default device when CUDA is absent."""
    if device and str(device).startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return None
    return device


def _positive(name: str, value: Any) -> int | None:
    if value is None:
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n <= 0 or isinstance(value, bool):
        raise UsageError(f"{name} must be a positive integer, got {value!r}")
    return n


__all__ = ["DEFAULT_MAX_GEN_TOKS", "TbenchLM", "generation_settings"]
