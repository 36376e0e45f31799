"""The Runner: the only way tasks talk to a model.

Three batched request kinds (see tasks.base): greedy `generate` with a KV cache and stop strings,
`loglikelihood` of a continuation, and `rolling_loglikelihood` of a whole sequence. Requests are
sorted by length and packed into batches under a token budget; left padding keeps every sequence's
last token at the right edge, so only the positions that are scored go through the LM head, in
chunks (no full float32 logits). Padded batches run without a mask, their padding rolled behind the
tokens (unmasked.py), so SDPA keeps its causal kernels. Generation is decoded by decoding.py (a static cache and a CUDA
graph where the model allows; `decode_route` says which route ran). There a decode group's rows are
bounded by a memory budget (each row's static cache, known from the config) and prefilled in
sub-batches under the token budget, so a small-cache model decodes many long prompts at once; on the
other routes a prefill batch is decoded alone, sized by both budgets. A batch that runs out of GPU
memory is split and retried.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..tasks.base import Generate, LogLikelihood, Request, Rolling
from . import architecture, decode_memory, decoding, unmasked
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
                 max_memory_bytes: int | None = None, group_decoding: bool = True):
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
        #: decode rows of several prefill sub-batches together (graph / static routes); False: each
        #: prefill batch decodes alone, as on the other routes
        self.group_decoding = group_decoding
        #: score padded batches unmasked (unmasked.py); False: with the left-padded mask, as before
        self.unmasked_scoring = True
        self.decoder = decoding.Decoder(model)

    @property
    def decode_route(self) -> str:
        """How generate() decodes: graph | static | eager | generate, with the reason a faster route was
        not taken (e.g. 'eager (ToroidalHFAttention modules)'); after a batch, the route that ran."""
        return str(self.decoder.last_route)

    def release(self) -> None:
        """Free what generation keeps for a next batch of the same shape (the decoder's static cache
        and graph): at the end of a cell, so the next one starts with the memory free."""
        self.decoder.release()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

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
        stop strings. Decode groups (graph / static routes) fit the memory budget and are prefilled in
        sub-batches under max_batch_tokens; otherwise a batch fits both budgets."""
        out: list[str] = [""] * len(requests)
        budget = self.max_memory_bytes or decode_memory.free_memory(self.device, held=self.decoder.held_bytes())
        self.decoder.refresh()
        lengths = [max(1, len(r.prompt_ids)) for r in requests]

        def key(i: int):
            return requests[i].max_new_tokens, requests[i].stop

        if self.group_decoding and self.decoder.groups_prefills:
            def run_group(g: list[int]) -> None:
                reqs = [requests[i] for i in g]
                self._generate_group(reqs, g, out, prefill_tokens=self._group_plan(reqs[0], budget)[1])

            for group in self._groups(lengths, key, lambda i: self._group_plan(requests[i], budget)[0]):
                self._with_backoff(group, run_group)
                if progress:
                    progress(len(group))
            return out
        static = self.decoder.route.name in ("graph", "static")

        def rows(i: int) -> int:  # i: the batch's longest request
            r = requests[i]
            need = decode_memory.row_bytes(self.model, len(r.prompt_ids), r.max_new_tokens, static)
            return min(decode_memory.MAX_ROWS, max(1, budget // need)) if budget else decode_memory.MAX_ROWS

        for batch in self._batches(lengths, key=key, rows=rows):
            self._with_backoff(batch, lambda b: self._generate_group([requests[i] for i in b], b, out))
            if progress:
                progress(len(batch))
        return out

    # -- internals ------------------------------------------------------------------------------
    def _group_plan(self, longest: Generate, budget: int | None) -> tuple[int, int]:
        """(rows of a decode group whose longest request is `longest`, padded tokens of one of its prefill
        sub-batches): max_batch_tokens, or less where the memory budget is the tighter bound."""
        prompt = max(1, len(longest.prompt_ids))
        token_rows = max(1, self.max_batch_tokens // prompt)
        rows, prefill_rows = decode_memory.group_rows(
            budget, decode_memory.decode_row_bytes(self.model, prompt, longest.max_new_tokens),
            decode_memory.prefill_row_bytes(self.model, prompt), token_rows)
        return rows, self.max_batch_tokens if prefill_rows == token_rows else prefill_rows * prompt

    def _groups(self, lengths: Sequence[int], key: Callable[[int], Any], rows: Callable[[int], int]) -> list[list[int]]:
        """Indices grouped by key, sorted longest first, split evenly into groups of at most rows(longest)."""
        order = sorted(range(len(lengths)), key=lambda i: (str(key(i)), -lengths[i]))
        groups: list[list[int]] = []
        for _, run in itertools.groupby(order, key=lambda i: str(key(i))):
            run = list(run)
            for size in decode_memory.group_sizes(len(run), rows(run[0])):
                groups.append(run[:size])
                run = run[size:]
        return groups

    def _generate_group(self, reqs: list[Generate], idx: list[int], out: list[str],
                        prefill_tokens: int | None = None) -> None:
        """Decode `reqs` (longest first) as one batch; with `prefill_tokens`, prefilled in sub-batches of
        at most that many padded tokens (and max_batch_tokens), else in one."""
        first = reqs[0]
        if self.decoder.route.name == "generate":
            ids, mask = self._left_pad([list(r.prompt_ids) for r in reqs])
            gen = self._hf_generate(ids, mask, first)
        else:
            widths = [max(1, len(r.prompt_ids)) for r in reqs]
            subs = (self._batches(widths, rows=lambda j: max(1, prefill_tokens // widths[j]))
                    if prefill_tokens else [list(range(len(reqs)))])
            order = [j for sub in subs for j in sub]  # the decoder's rows, sub-batch after sub-batch
            parts = [self._left_pad([list(reqs[j].prompt_ids) for j in sub]) for sub in subs]
            eos = [] if self.tokenizer.eos_token_id is None else [self.tokenizer.eos_token_id]
            rows = self.decoder.decode_parts(parts, first.max_new_tokens, eos, self.pad_id,
                                             stop_check(self.tokenizer, first.stop))
            gen = [None] * len(reqs)
            for j, row in zip(order, rows, strict=True):
                gen[j] = row
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
        hidden = self._last_hidden(ids, mask, k)  # (B, k, d): only scored positions reach the head
        targets = torch.tensor([[self.pad_id] * (k - n) + w[-n:] for w, n in ws], device=self.device)
        lp, greedy = token_logprobs(hidden, self.model.get_output_embeddings(), targets)
        lp, greedy = lp.cpu().numpy(), greedy.cpu().numpy()
        for j, (i, (_, n)) in enumerate(zip(idx, ws, strict=True)):
            results[i] = (lp[j, k - n :], greedy[j, k - n :])

    def _last_hidden(self, ids: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
        """Hidden states of the last k positions (B, k, d) of a left-padded batch; run unmasked (padding
        rolled behind the tokens, unmasked.py) unless the model needs left padding."""
        base = architecture.base_model(self.model)
        if self.unmasked_scoring and not unmasked.needs_left_padding(self.model):
            return unmasked.forward(base, ids, mask, k, use_cache=False)[0]
        return base(input_ids=ids, attention_mask=mask, position_ids=positions(mask),
                    use_cache=False).last_hidden_state[:, -k:]

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
            return
        except torch.OutOfMemoryError:
            if len(batch) == 1:
                raise
        # retried outside the handler: the failed attempt's frames (and their tensors) are gone by now
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
