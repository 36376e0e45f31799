"""Token-space prompt building: encode text pieces once, concatenate token lists, never re-tokenize.

A prompt is assembled from pieces (template parts, haystack units, needles). Each piece is encoded as
it would be tokenized *in context*: we encode "." + piece and drop the tokens of "." when they form a
stable prefix. That removes the dummy-prefix space SentencePiece tokenizers add at the start of a
string (Llama-2 style "▁"), and changes nothing for byte-level/GPT-2/Llama-3 style tokenizers, whose
pre-tokenizers split at the whitespace and punctuation where our pieces begin. When "." would merge
with the piece (e.g. a piece starting with "."), the plain encoding is used.

Pieces are a fast estimate. What a model is given must also be what a text backend (an inference
server, an API) would see: the tokenizer's own encoding of the prompt text. `canonical` checks that for
every sample (decode, encode again) and, where the two differ, swaps in the re-encoded ids when they
fit the length; a sample that cannot round-trip keeps its built ids and says so in `meta["canonical"]`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .base import Generate, LogLikelihood, Rolling, Sample, special_prefix

_ANCHOR = "."
_ENCODERS: dict[int, tuple[Any, Encoder]] = {}


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A stable hash of everything that decides token ids (serialized fast tokenizer, else vocab)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        blob = backend.to_str()
    else:  # slow tokenizers: the vocabulary and special tokens decide the ids
        blob = repr(sorted(tokenizer.get_vocab().items())) + repr(getattr(tokenizer, "all_special_tokens", []))
    blob += f"|{type(tokenizer).__name__}|{special_prefix(tokenizer)}"
    blob += f"|{getattr(tokenizer, 'chat_template', None) or ''}"  # --chat-template prompts differ by template
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


class Encoder:
    """Memoised in-context encoding of pieces for one tokenizer."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.prefix: list[int] = special_prefix(tokenizer)  # BOS etc., counted in the prompt length
        self.fingerprint = tokenizer_fingerprint(tokenizer)
        self._anchor = self._plain([_ANCHOR])[0]
        self._memo: dict[str, list[int]] = {}

    def _plain(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        return [list(ids) for ids in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def many(self, texts: Sequence[str]) -> list[list[int]]:
        """In-context token ids of each text (batched; results memoised)."""
        todo = sorted({t for t in texts if t not in self._memo})
        if todo:
            if len(self._memo) > 500_000:  # bound memory over long runs with many unique pieces
                self._memo.clear()
            k = len(self._anchor)
            anchored = self._plain([_ANCHOR + t for t in todo])
            plain_needed = [t for t, ids in zip(todo, anchored, strict=True) if ids[:k] != self._anchor]
            plain = dict(zip(plain_needed, self._plain(plain_needed), strict=True))
            for t, ids in zip(todo, anchored, strict=True):
                self._memo[t] = plain[t] if t in plain else ids[k:]
        return [self._memo[t] for t in texts]

    def fresh(self, text: str) -> list[int]:
        """In-context encoding of one long text, not memoised."""
        k = len(self._anchor)
        ids = self._plain([_ANCHOR + text])[0]
        return ids[k:] if ids[:k] == self._anchor else self._plain([text])[0]

    def one(self, text: str) -> list[int]:
        return self.many([text])[0]

    def head(self, text: str) -> list[int]:
        """Special prefix + the plain encoding of text that opens the prompt."""
        return self.prefix + (self._plain([text])[0] if text else [])

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids))

    def text(self, text: str) -> tuple[list[int], bool]:
        """(special prefix + the tokenizer's encoding of text, whether those ids decode back to text).

        When they do, decoding and encoding again gives the same ids: the prompt is canonical."""
        body = self._plain([text])[0] if text else []
        return self.prefix + body, self._text_of(body) == text

    def round_trip(self, ids: Sequence[int]) -> list[int]:
        """The ids a text backend would see: the prompt decoded (special prefix aside) and encoded again."""
        ids = list(ids)
        k = len(self.prefix) if ids[: len(self.prefix)] == self.prefix else 0
        text = self._text_of(ids[k:])
        return ids[:k] + (self._plain([text])[0] if text else [])

    def _text_of(self, ids: Sequence[int]) -> str:
        # no clean-up of spaces before punctuation: the text must hold exactly what the ids spell
        return self.tokenizer.decode(list(ids), clean_up_tokenization_spaces=False)


def encoder_for(tokenizer: Any) -> Encoder:
    """One Encoder per tokenizer object (the memo makes repeated pieces free)."""
    hit = _ENCODERS.get(id(tokenizer))
    if hit is None or hit[0] is not tokenizer:
        hit = (tokenizer, Encoder(tokenizer))
        _ENCODERS[id(tokenizer)] = hit
    return hit[1]


def canonical(sample: Sample, enc: Encoder, length: int) -> Sample:
    """The sample with prompt ids that survive decode → encode, within `length` tokens.

    Built ids that round-trip are kept. Otherwise a generation prompt takes the re-encoded ids when
    they fit `length` with the generation budget and are stable themselves; anything else (token-level
    data such as periodic sequences, a re-encoding that would overflow) keeps its built ids. Either
    way `meta["canonical"]` records whether the ids round-trip. Samples already checked pass through."""
    if "canonical" in sample.meta:
        return sample
    r = sample.request
    ids = _request_ids(r)
    again = enc.round_trip(ids)
    if again == ids:
        return _with(sample, canonical=True)
    if isinstance(r, Generate) and len(again) + r.max_new_tokens <= length and enc.round_trip(again) == again:
        return replace(sample, request=replace(r, prompt_ids=tuple(again)), prompt=enc.decode(again),
                       meta={**sample.meta, "canonical": True})
    return _with(sample, canonical=False)


def _request_ids(r: Generate | LogLikelihood | Rolling) -> list[int]:
    if isinstance(r, Generate):
        return list(r.prompt_ids)
    if isinstance(r, LogLikelihood):
        return list(r.context_ids) + list(r.continuation_ids)
    return list(r.token_ids)


def _with(sample: Sample, **meta: Any) -> Sample:
    return replace(sample, meta={**sample.meta, **meta})
