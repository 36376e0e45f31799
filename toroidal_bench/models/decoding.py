"""Greedy decoding for `Runner.generate`: prefill a left-padded batch, then one token per step.

Routes (`choose_route`), fastest first:
- `graph`: a static KV cache (transformers' StaticCache, a fixed number of slots) gives every step the
  same shapes; the step is captured once in a CUDA graph and replayed. The mask, positions, outputs
  and per-row done flags live in fixed device buffers that the step updates itself.
- `static`: the same steps run eagerly (no CUDA device, or a capture that failed).
- `eager`: a growing DynamicCache and a 2-D mask, as `model.generate` runs it, for models whose
  modules keep Python state between steps or ask the host about tensor values (toroidal layers on
  host-planned backends — flex, ring, flash2 —, dynamic RoPE, others' hooks), sliding windows, and
  attention kernels without a static-mask form. Modules that declare `static_decoding` (toroidal
  layers on auto/fused/sdpa/manual, π-Spiral and hybrid rotaries, attractors) and hooks that declare
  `static_decoding_hooks` take the static route.
- `generate`: `model.generate` itself, where the model's generation config asks for logits
  processors (repetition penalty, …) that change greedy choices and this loop does not reproduce.

On the graph and static routes a decode group may be prefilled in several sub-batches (`decode_parts`):
prefill activations bound how many prompt tokens one forward may take, while a decoding step of a
small-cache model can run many more rows than that. Each sub-batch's KV is written into the group's
one static cache, right-aligned at the group's widest prompt, so every row's next token takes the
same slot; the group then decodes as one batch, with one captured graph. The eager route keeps one
prefill batch per decode batch (its modules carry Python state from their own prefill). Per-row
states other than KV (attractors) are moved into buffers on the static cache the same way.

Prefills on these routes run without a mask (unmasked.py: padding rolled behind each row's tokens, so
SDPA runs its causal kernels), unless a module needs its batches left-padded (`left_padded_prefill`).

In a static decoding step the model's stock SDPA attention goes through grouped_attention.py, which
keeps the grouped KV heads as they are (transformers repeats them to every query head whenever a mask
is given: a copy of the whole cache per layer and step).

EOS ends a row on the device (its later tokens are padding). Stop strings and "every row is done"
are looked at on the host every `check_every` steps: one host sync per `check_every` steps, not per
step. A row is returned up to and including its EOS; cutting text at stop strings is the caller's.
Rows that finish early stay in their group until every row is done (dropping them would change the
graph's shape).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch

from ..encodings.pi_spiral.attractor import place_states
from . import architecture, unmasked
from .decode_memory import cache_slots
from .grouped_attention import grouped_attention

#: generation-config fields whose non-default values change greedy choices: → model.generate
_PROCESSORS = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "encoder_repetition_penalty": 1.0,
               "encoder_no_repeat_ngram_size": 0, "bad_words_ids": None, "min_length": 0, "min_new_tokens": None,
               "suppress_tokens": None, "begin_suppress_tokens": None, "forced_bos_token_id": None,
               "forced_eos_token_id": None, "sequence_bias": None, "exponential_decay_length_penalty": None}


@dataclass(frozen=True)
class Route:
    name: str  # graph | static | eager | generate
    reason: str = ""  # why a faster route was not taken

    def __str__(self) -> str:
        return f"{self.name} ({self.reason})" if self.reason else self.name


def choose_route(model: Any) -> Route:
    reason = _processor_blocker(model)
    if reason:
        return Route("generate", reason)
    reason = _static_blocker(model)
    if reason:
        return Route("eager", reason)
    if next(model.parameters()).device.type != "cuda":
        return Route("static", "no CUDA device for a graph")
    return Route("graph")


def _processor_blocker(model: Any) -> str:
    config = getattr(model, "generation_config", None)
    for name, default in _PROCESSORS.items():
        value = getattr(config, name, default)
        if value not in (default, None):
            return f"generation config sets {name}"
    return ""


def _static_blocker(model: Any) -> str:
    """Why this model cannot decode from a static cache with a captured step ('' when it can)."""
    from .rotary import IdentityRotary

    if mask_kind(model) is None:
        return f"attention '{model.config._attn_implementation}' has no static-mask form"
    cfg = model.config
    if any(t != "full_attention" for t in getattr(cfg, "layer_types", None) or ()) or (
            getattr(cfg, "layer_types", None) is None and getattr(cfg, "sliding_window", None) is not None):
        return "sliding-window layers"
    if len({p.device for p in model.parameters()}) > 1:
        return "weights on several devices"
    rotary = getattr(architecture.base_model(model), "rotary_emb", None)
    rope_type = getattr(rotary, "rope_type", "default")
    if ("dynamic" in rope_type or rope_type == "longrope") and not getattr(rotary, "static_decoding", False):
        return f"RoPE type '{rope_type}' recomputes its frequencies from the length"
    capturable: tuple[str, ...] = ()  # modules whose decoding step reads nothing on the host, and their parts
    for name, module in model.named_modules():
        if hasattr(module, "_hf_hook") or ((module._forward_hooks or module._forward_pre_hooks)
                                           and not getattr(module, "static_decoding_hooks", False)):
            return f"forward hooks on '{name}'"
        if name.startswith(capturable):
            continue
        if getattr(module, "static_decoding", False):
            capturable += (f"{name}.",)
            continue
        origin = type(module).__module__
        if not origin.startswith(("transformers.", "torch.")) and not isinstance(module, IdentityRotary):
            return f"{type(module).__name__} modules"
    return ""


def mask_kind(model: Any) -> str | None:
    """The 4-D mask the model's attention takes: 'bool' (sdpa family), 'float' (eager), None (other)."""
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask, sdpa_mask

    builder = ALL_MASK_ATTENTION_FUNCTIONS._global_mapping.get(model.config._attn_implementation)
    return {sdpa_mask: "bool", eager_mask: "float"}.get(builder)


# -- the decoder ----------------------------------------------------------------------------------

StopCheck = Callable[[list[int]], bool]


Part = tuple[torch.Tensor, torch.Tensor]  # one prefill sub-batch: ids, mask (b, width), left-padded


class Decoder:
    """Greedy decoding of left-padded batches on one model. Keeps the last static session (cache,
    buffers, CUDA graph) for the next batch of the same rows and cache length. `grouped_heads`: decoding
    steps attend through grouped_attention.py where the model uses transformers' own SDPA."""

    def __init__(self, model: Any, route: Route | None = None, check_every: int = 8, grouped_heads: bool = True,
                 unmasked_prefill: bool = True):
        self.model = model
        self.forced = route
        self.route = route or choose_route(model)
        self.check_every = check_every
        self.grouped_heads = grouped_heads
        self.unmasked_prefill = unmasked_prefill
        self._session: _StaticSession | None = None
        self.last_route = self.route  # what the latest batch ran (a failed capture runs `static`)

    def refresh(self) -> Route:
        """Choose the route again (the model may have been patched since), unless one was forced."""
        self.route = self.last_route = self.forced or choose_route(self.model)
        return self.route

    def held_bytes(self) -> int:
        """Device bytes of the kept static cache (freed when a batch of another shape comes)."""
        if self._session is None:
            return 0
        return sum(t.numel() * t.element_size() for layer in self._session.cache.layers if layer.is_initialized
                   for t in (layer.keys, layer.values))

    def release(self) -> None:
        """Drop the kept static session (its cache can be most of a long-context cell's memory)."""
        self._session = None

    @property
    def groups_prefills(self) -> bool:
        """Can one decode group hold rows of several prefill sub-batches (`decode_parts`)?"""
        return self.route.name in ("graph", "static")

    def decode(self, ids: torch.Tensor, mask: torch.Tensor, max_new_tokens: int, eos_ids: list[int], pad_id: int,
               stopped: StopCheck | None = None) -> list[list[int]]:
        """ids, mask (B, P) left-padded → each row's new tokens (up to and including EOS)."""
        return self.decode_parts([(ids, mask)], max_new_tokens, eos_ids, pad_id, stopped)

    @torch.inference_mode()
    def decode_parts(self, parts: Sequence[Part], max_new_tokens: int, eos_ids: list[int], pad_id: int,
                     stopped: StopCheck | None = None) -> list[list[int]]:
        """Prefill each part (a left-padded sub-batch) on its own, decode all their rows as one batch;
        rows in the parts' order. Several parts only where `groups_prefills`."""
        b = sum(ids.shape[0] for ids, _ in parts)
        if max_new_tokens <= 0:
            return [[] for _ in range(b)]
        if self.route.name == "eager":
            if len(parts) != 1:
                raise ValueError("the eager route decodes one prefill batch at a time")
            stepper = _EagerSession(self.model, *parts[0], max_new_tokens, eos_ids, pad_id)
        else:
            width = max(ids.shape[1] for ids, _ in parts)
            shape = (b, cache_slots(width + max_new_tokens), max_new_tokens, len(eos_ids))
            made_for = (shape, self.route.name == "graph", self.grouped_heads)
            if self._session is None or self._session.made_for != made_for:
                self._session = None  # free the old cache before this prefill
                self._session = _StaticSession(self.model, *made_for)
            stepper = self._session
            stepper.start(parts, eos_ids, pad_id, self.unmasked_prefill)
        rows = self._loop(stepper, max_new_tokens, stopped)
        self.last_route = getattr(stepper, "route", self.route)
        return rows

    def _loop(self, stepper, max_new_tokens: int, stopped: StopCheck | None) -> list[list[int]]:
        state = stepper.state
        lengths = [max_new_tokens] * state.done.shape[0]  # stop-string rows end where they were seen
        n = 1
        while n < max_new_tokens:
            stepper.step()
            n += 1
            if n % self.check_every == 0 and self._all_done(state, n, stopped, lengths):
                break
        out = state.out[:, :n].cpu().tolist()
        eos = set(state.eos.cpu().tolist())
        rows = []
        for row, length in zip(out, lengths, strict=True):
            row = row[:min(n, length)]
            end = next((i for i, t in enumerate(row) if t in eos), None)
            rows.append(row if end is None else row[:end + 1])
        return rows

    @staticmethod
    def _all_done(state: _State, n: int, stopped: StopCheck | None, lengths: list[int]) -> bool:
        """One host sync: mark rows whose text holds a stop string done; is every row done?"""
        if stopped is None:
            return bool(state.done.all())
        done = state.done.cpu().tolist()
        out = state.out[:, :n].cpu().tolist()
        newly = [j for j, d in enumerate(done) if not d and stopped(out[j])]
        for j in newly:
            lengths[j] = n
        if newly:
            state.done[torch.tensor(newly, device=state.done.device)] = True
        return all(d or j in newly for j, d in enumerate(done))


class _State:
    """What one step reads and updates on the device: the fed token, its position, outputs, done flags."""

    def __init__(self, b: int, max_new_tokens: int, n_eos: int, device: torch.device):
        long = dict(dtype=torch.long, device=device)
        self.tok = torch.zeros(b, 1, **long)
        self.pos = torch.zeros(b, 1, **long)
        self.out = torch.zeros(b, max_new_tokens, **long)
        self.step = torch.zeros(1, **long)  # index in `out` of the token chosen next
        self.done = torch.zeros(b, dtype=torch.bool, device=device)
        self.eos = torch.full((max(n_eos, 1),), -1, **long)
        self.pad = torch.zeros((), **long)

    def reset(self, last_pos: torch.Tensor, eos_ids: list[int], pad_id: int) -> None:
        self.pos.copy_(last_pos)
        self.out.fill_(pad_id)
        self.step.zero_()
        self.done.zero_()
        self.eos.fill_(-1)
        self.eos[:len(eos_ids)] = torch.tensor(eos_ids, dtype=torch.long)
        self.pad.fill_(pad_id)

    def take(self, logits: torch.Tensor) -> None:
        """Greedy choice from the last position's logits (B, q, V)."""
        self.choose(logits[:, -1].argmax(dim=-1))

    def choose(self, nxt: torch.Tensor) -> None:
        """Record each row's next token (B,); finished rows get padding."""
        nxt = torch.where(self.done, self.pad, nxt)
        self.out.index_copy_(1, self.step, nxt[:, None])
        self.done |= (nxt[:, None] == self.eos).any(dim=-1)
        self.tok.copy_(nxt[:, None])
        self.pos.add_(1)
        self.step.add_(1)


def _prefill(model: Any, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, Any]:
    """Logits of the last position (B, 1, V) and the DynamicCache of the prompt."""
    from .runner import positions

    outputs = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask), use_cache=True,
                    logits_to_keep=1)
    return outputs.logits, architecture.output_cache(outputs)


def _prefill_unmasked(model: Any, ids: torch.Tensor, mask: torch.Tensor):
    """Prefill a left-padded batch without an attention mask (unmasked.py: padding rolled behind each
    row's tokens, so SDPA runs its causal kernels).

    → (each row's greedy first token (B,), the DynamicCache, `back`: for each row the slot order that
    puts its KV back right-aligned, or None when nothing was rolled). Padding slots hold junk that the
    caller masks out. The first token is the argmax of the LM head over each row's last hidden state:
    what a model applies to logits after its head (soft-capping, a positive scale) keeps the argmax."""
    hidden, outputs, back = unmasked.forward(architecture.base_model(model), ids, mask, 1, use_cache=True)
    tokens = model.get_output_embeddings()(hidden[:, -1]).argmax(dim=-1)
    return tokens, architecture.output_cache(outputs), back


def _forward(model: Any, tok, mask, pos, cache) -> torch.Tensor:
    outputs = model(input_ids=tok, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1,
                    **{architecture.cache_keyword(): cache})
    return outputs.logits


class _EagerSession:
    """A growing DynamicCache and 2-D mask; everything the modules need, the way model.generate feeds it."""

    def __init__(self, model, ids, mask, max_new_tokens: int, eos_ids: list[int], pad_id: int):
        from .runner import positions

        self.model, self.mask = model, mask
        self.state = _State(ids.shape[0], max_new_tokens, len(eos_ids), ids.device)
        self.state.reset(positions(mask)[:, -1:], eos_ids, pad_id)
        logits, self.cache = _prefill(model, ids, mask)
        self.state.take(logits)

    def step(self) -> None:
        s = self.state
        self.mask = torch.cat([self.mask, self.mask.new_ones(self.mask.shape[0], 1)], dim=1)
        s.take(_forward(self.model, s.tok, self.mask, s.pos, self.cache))


class _StaticSession:
    """A StaticCache of `slots` positions and fixed buffers; on CUDA the step is a captured graph."""

    def __init__(self, model, shape: tuple[int, int, int, int], graph: bool, grouped_heads: bool):
        from transformers import StaticCache

        b, slots, max_new_tokens, n_eos = shape  # rows, cache slots, new tokens, EOS ids
        device = next(model.parameters()).device
        self.model, self.shape, self.made_for = model, shape, (shape, graph, grouped_heads)
        self.cache = StaticCache(config=model.config, max_cache_len=slots)
        self.state = _State(b, max_new_tokens, n_eos, device)
        self.valid = torch.zeros(b, slots, dtype=torch.bool, device=device)  # keys each row may see
        self.slot = torch.zeros(1, dtype=torch.long, device=device)  # cache slot of the fed token
        self.slot_ids = torch.arange(slots, device=device)
        self.float_mask = mask_kind(model) == "float"
        self.min_value = torch.finfo(next(model.parameters()).dtype).min
        self.want_graph, self.grouped_heads = graph, grouped_heads
        self.graph: Any = None
        self.route = Route("graph" if graph else "static", "" if graph else "no CUDA device for a graph")

    def start(self, parts: Sequence[Part], eos_ids: list[int], pad_id: int, unmasked_prefill: bool = True) -> None:
        """Prefill each part (`unmasked_prefill`: by `_prefill_unmasked` unless the model needs its prompts
        left-padded; else as left-padded with its mask) and place its KV right-aligned at the widest
        part's width, so every row's next token goes to the same slot; the first token of every row."""
        from .runner import positions

        width = max(ids.shape[1] for ids, _ in parts)
        rolled = unmasked_prefill and not unmasked.needs_left_padding(self.model)
        self.cache.reset()  # in place: a captured graph keeps pointing at the same tensors
        self.valid.zero_()
        first, last = [], []
        row = 0
        for ids, mask in parts:
            b, w = ids.shape
            if rolled:
                tokens, prompt_cache, back = _prefill_unmasked(self.model, ids, mask)
            else:
                logits, prompt_cache = _prefill(self.model, ids, mask)
                tokens, back = logits[:, -1].argmax(dim=-1), None
            self._place(prompt_cache, slice(row, row + b), slice(width - w, width), back)
            del prompt_cache
            self.valid[row:row + b, width - w:width] = mask.bool()
            first.append(tokens)
            last.append(positions(mask)[:, -1:])
            row += b
        for layer in self.cache.layers:
            layer.cumulative_length.fill_(width)  # the next update writes slot `width`
        self.slot.fill_(width)
        self.state.reset(torch.cat(last), eos_ids, pad_id)
        self.state.choose(torch.cat(first))

    def _place(self, prompt_cache, rows: slice, slots: slice, back: torch.Tensor | None) -> None:
        """Copy a part's KV into the static cache, each row's slots gathered by `back` (None: as they are)."""
        layers = prompt_cache.layers
        if not self.cache.layers[0].is_initialized:
            first = layers[0].keys
            self.cache.early_initialization(self.shape[0], [layer.keys.shape[1] for layer in layers],
                                            [layer.keys.shape[-1] for layer in layers], first.dtype, first.device)
        for layer, target in zip(layers, self.cache.layers, strict=True):
            for source, dest in ((layer.keys, target.keys), (layer.values, target.values)):
                dest[rows, :, slots] = unmasked.unroll(source, back, dim=2)
        place_states(prompt_cache, self.cache, rows, self.shape[0])

    def _step(self) -> None:
        self.valid |= self.slot_ids == self.slot  # the fed token's own slot
        mask = self.valid[:, None, None, :]  # (B, 1, 1, slots)
        if self.float_mask:
            mask = torch.where(mask, 0.0, self.min_value).to(next(self.model.parameters()).dtype)
        s = self.state
        with grouped_attention(self.model) if self.grouped_heads else nullcontext():
            s.take(_forward(self.model, s.tok, mask, s.pos, self.cache))
        self.slot.add_(1)

    def step(self) -> None:
        if self.graph is not None:
            self.graph.replay()
        elif not self.want_graph:
            self._step()
        else:  # first step: run it for real (warming up kernels and workspaces), then capture it
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self._step()
            torch.cuda.current_stream().wait_stream(side)
            self.graph, error = capture(self._step)
            if self.graph is None:
                self.want_graph = False
                self.route = Route("static", f"CUDA graph capture failed: {error}")


def capture(fn: Callable[[], None]) -> tuple[Any, str]:
    """(`fn` recorded as a CUDA graph, '') or (None, why) if it cannot be captured (e.g. it syncs)."""
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph):
            fn()
    except RuntimeError as exc:
        torch.cuda.synchronize()
        return None, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return graph, ""
