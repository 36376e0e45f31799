"""The Runner: the only way tasks talk to a model.

Three batched request kinds (see tasks.base): greedy `generate` with a KV cache and stop strings,
`loglikelihood` of a continuation, and `rolling_loglikelihood` of a whole sequence. Requests are
sorted by length and packed into batches under a token budget; left padding keeps every sequence's
last token at the right edge, so only the positions that are scored go through the LM head, in
chunks (no full float32 logits). Generation batches are also sized by a memory budget (each row's
KV cache and prefill activations, known from the config) and decoded by decoding.py (a static
cache and a CUDA graph where the model allows; `decode_route` says which route ran). A batch that
runs out of GPU memory is split and retried.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..tasks.base import Generate, LogLikelihood, Request, Rolling
from . import architecture, decoding
from .logprobs import token_logprobs
from .windows import Window, disjoint_windows, strided_windows


@dataclass(frozen=True)
class TokenScores:
    """Per-token results of a rolling request: log p(token) and whether it was the argmax."""

    logprobs: np.ndarray  # float32 (n,)
    greedy: np.ndarray  # bool (n,)

    @property
    def total(self) -> float:
        return float(self.logprobs.astype(np.float64).sum())


Progress = Callable[[int], None]


class Runner:
    def __init__(self, model: Any, tokenizer: Any, *, spec: str = "", spec_hash: str = "",
                 max_batch_tokens: int | None = None, max_length: int | None = None,
                 max_memory_bytes: int | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec
        self.spec_hash = spec_hash
        self.device = next(model.parameters()).device
        self.attention = getattr(model, "tbench_attention", model.config._attn_implementation)
        on_gpu = self.device.type == "cuda"
        self.max_batch_tokens = max_batch_tokens or (65536 if on_gpu else 8192)
        self.max_length = max_length or getattr(model.config, "max_position_embeddings", 4096)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        self.prefix_id = prefix if prefix is not None else self.pad_id
        #: device bytes a generation batch may hold; None: what is free when generate() starts (CPU: no limit)
        self.max_memory_bytes = max_memory_bytes
        self.decoder = decoding.Decoder(model)

    @property
    def decode_route(self) -> str:
        """How generate() decodes: graph | static | eager | generate, with the reason a faster route was
        not taken (e.g. 'eager (ToroidalHFAttention modules)'); after a batch, the route that ran."""
        return str(self.decoder.last_route)

    # -- public API -----------------------------------------------------------------------------
    def run(self, requests: Sequence[Request], progress: Progress | None = None) -> list[Any]:
        """Outputs in request order: str for Generate, (logprob, is_greedy) for LogLikelihood,
        TokenScores for Rolling."""
        out: list[Any] = [None] * len(requests)
        for kind, fn in ((Generate, self.generate), (LogLikelihood, self.loglikelihood),
                         (Rolling, self.rolling_loglikelihood)):
            idx = [i for i, r in enumerate(requests) if isinstance(r, kind)]
            if idx:
                for i, o in zip(idx, fn([requests[i] for i in idx], progress=progress), strict=True):
                    out[i] = o
        return out

    def loglikelihood(self, requests: Sequence[LogLikelihood], progress: Progress | None = None):
        windows = [(list(r.context_ids) + list(r.continuation_ids), len(r.continuation_ids)) for r in requests]
        scored = self._score_windows(windows, progress)
        return [(float(lp.astype(np.float64).sum()), bool(g.all())) for lp, g in scored]

    def rolling_loglikelihood(self, requests: Sequence[Rolling], stride: int | None = None,
                              progress: Progress | None = None) -> list[TokenScores]:
        windows: list[Window] = []
        owner: list[int] = []
        for i, r in enumerate(requests):
            length = r.max_length or self.max_length
            step = r.stride or stride  # the request's own stride wins
            ws = (strided_windows(r.token_ids, self.prefix_id, length, step) if step
                  else disjoint_windows(r.token_ids, self.prefix_id, length))
            windows += ws
            owner += [i] * len(ws)
        scored = self._score_windows(windows, None)
        if progress:
            progress(len(requests))  # the bar counts samples, not windows
        parts: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in requests]
        for i, s in zip(owner, scored, strict=True):
            parts[i].append(s)
        return [TokenScores(np.concatenate([p[0] for p in ps]) if ps else np.zeros(0, np.float32),
                            np.concatenate([p[1] for p in ps]) if ps else np.zeros(0, bool)) for ps in parts]

    @torch.inference_mode()
    def generate(self, requests: Sequence[Generate], progress: Progress | None = None) -> list[str]:
        """Greedy continuations, cut at the request's stop strings. A batch shares max_new_tokens and
        stop strings; its prompt tokens fit max_batch_tokens and its rows the memory budget."""
        out: list[str] = [""] * len(requests)
        budget = self.max_memory_bytes or decoding.free_memory(self.device)
        static = self.decoder.refresh().name in ("graph", "static")

        def rows(i: int) -> int:  # i: the batch's longest request
            r = requests[i]
            need = decoding.row_bytes(self.model, len(r.prompt_ids), r.max_new_tokens, static)
            return min(decoding.MAX_ROWS, max(1, budget // need)) if budget else decoding.MAX_ROWS

        for batch in self._batches([max(1, len(r.prompt_ids)) for r in requests],
                                   key=lambda i: (requests[i].max_new_tokens, requests[i].stop), rows=rows):
            self._with_backoff(batch, lambda b: self._generate_batch([requests[i] for i in b], b, out))
            if progress:
                progress(len(batch))
        return out

    # -- internals ------------------------------------------------------------------------------
    def _generate_batch(self, reqs: list[Generate], idx: list[int], out: list[str]) -> None:
        ids, mask = self._left_pad([list(r.prompt_ids) for r in reqs])
        first = reqs[0]
        if self.decoder.route.name == "generate":
            gen = self._hf_generate(ids, mask, first)
        else:
            eos = [] if self.tokenizer.eos_token_id is None else [self.tokenizer.eos_token_id]
            gen = self.decoder.decode(ids, mask, first.max_new_tokens, eos, self.pad_id,
                                      stop_check(self.tokenizer, first.stop))
        for j, i in enumerate(idx):
            text = self.tokenizer.decode(gen[j], skip_special_tokens=True)
            out[i] = cut_at_stop(text, first.stop)

    def _hf_generate(self, ids: torch.Tensor, mask: torch.Tensor, req: Generate) -> torch.Tensor:
        """model.generate, for generation configs whose logits processors the decoder does not apply."""
        kwargs = dict(max_new_tokens=req.max_new_tokens, do_sample=False, pad_token_id=self.pad_id,
                      eos_token_id=self.tokenizer.eos_token_id, attention_mask=mask)
        if req.stop:
            kwargs.update(stop_strings=list(req.stop), tokenizer=self.tokenizer)
        return self.model.generate(ids, **kwargs)[:, ids.shape[1]:]

    @torch.inference_mode()
    def _score_windows(self, windows: Sequence[Window], progress: Progress | None):
        """(tokens, n) → log p and greedy flags of the last n tokens given everything before them."""
        results: list[Any] = [None] * len(windows)
        for batch in self._batches([len(w[0]) - 1 for w in windows]):
            self._with_backoff(batch, lambda b: self._score_batch([windows[i] for i in b], b, results))
            if progress:
                progress(len(batch))
        return results

    def _score_batch(self, ws: list[Window], idx: list[int], results: list[Any]) -> None:
        ids, mask = self._left_pad([w[0][:-1] for w in ws])
        k = max(n for _, n in ws)
        hidden = architecture.base_model(self.model)(
            input_ids=ids, attention_mask=mask, position_ids=positions(mask), use_cache=False
        ).last_hidden_state[:, -k:]  # (B, k, d): only scored positions reach the head
        targets = torch.tensor([[self.pad_id] * (k - n) + w[-n:] for w, n in ws], device=self.device)
        lp, greedy = token_logprobs(hidden, self.model.get_output_embeddings(), targets)
        lp, greedy = lp.cpu().numpy(), greedy.cpu().numpy()
        for j, (i, (_, n)) in enumerate(zip(idx, ws, strict=True)):
            results[i] = (lp[j, k - n :], greedy[j, k - n :])

    def _left_pad(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for j, s in enumerate(seqs):
            if s:
                ids[j, width - len(s):] = torch.tensor(s)
                mask[j, width - len(s):] = 1
        return ids.to(self.device), mask.to(self.device)

    def _batches(self, lengths: Sequence[int], key: Callable[[int], Any] = lambda i: 0,
                 rows: Callable[[int], int] | None = None) -> list[list[int]]:
        """Indices grouped by key, sorted longest first, packed under max_batch_tokens (padded size)
        and, when given, at most rows(longest) per batch."""
        order = sorted(range(len(lengths)), key=lambda i: (str(key(i)), -lengths[i]))
        batches: list[list[int]] = []
        for i in order:
            cur = batches[-1] if batches else None
            if (cur and key(cur[0]) == key(i)
                    and (len(cur) + 1) * lengths[cur[0]] <= self.max_batch_tokens
                    and (rows is None or len(cur) + 1 <= rows(cur[0]))):
                cur.append(i)
            else:
                batches.append([i])
        return batches

    def _with_backoff(self, batch: list[int], fn: Callable[[list[int]], None]) -> None:
        try:
            fn(batch)
        except torch.OutOfMemoryError:
            if len(batch) == 1:
                raise
            torch.cuda.empty_cache()
            half = len(batch) // 2
            self.max_batch_tokens = max(1, self.max_batch_tokens // 2)  # remember for later batches
            self._with_backoff(batch[:half], fn)
            self._with_backoff(batch[half:], fn)


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids for a left-padded batch: 0 at each sequence's first real token."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


def stop_check(tokenizer: Any, stop: Sequence[str]) -> Callable[[list[int]], bool] | None:
    """Does a row's text so far hold one of the stop strings? None when there are none."""
    stop = [s for s in stop if s]
    if not stop:
        return None
    return lambda tokens: any(s in tokenizer.decode(tokens, skip_special_tokens=True) for s in stop)


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return text if cut < 0 else text[:cut]
