"""Fitting a benchmark's own prompt into a context length: middle truncation and chat templates.

LongBench (pred.py) and InfiniteBench (eval_*.py) tokenize the whole prompt and, when it is longer
than the budget, keep its first and last halves of tokens: the instruction and the question survive,
the middle of the document goes. tbench does the same in token space with the budget its length
semantics give: the context length minus the answer budget minus the chat template's own tokens.

With `chat=True` the tokenizer's chat template wraps the prompt as one user turn with the
generation prompt opened (LongBench's build_chat for chat models); its tokens count in the length.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from .pieces import Encoder

_MARK = "TBENCHUSERMESSAGE"


@dataclass(frozen=True)
class Fitted:
    ids: list[int]
    truncated_tokens: int  # tokens middle truncation removed from the prompt
    chat_template: bool


def middle(ids: list[int], keep: int) -> list[int]:
    """The first keep//2 and the last keep − keep//2 tokens (all of them when they fit)."""
    if len(ids) <= keep:
        return list(ids)
    head = keep // 2
    return list(ids[:head]) + list(ids[len(ids) - (keep - head):])


def chat_frame(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The token ids the chat template puts before and after one user message."""
    if not getattr(tokenizer, "chat_template", None):
        raise UsageError("--chat-template: the model's tokenizer has no chat template",
                         "base models take the raw prompt; leave --chat-template off")
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": _MARK}], tokenize=False,
                                             add_generation_prompt=True)
    if rendered.count(_MARK) != 1:
        raise UsageError("--chat-template: the tokenizer's chat template does not place the user message once")
    before, after = rendered.split(_MARK)

    def ids(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []

    return ids(before), ids(after)


def fit(enc: Encoder, text: str, budget: int, *, chat: bool = False) -> Fitted:
    """`text` as prompt ids of at most `budget` tokens: the tokenizer's special prefix (or the chat
    frame) around the text's tokens, middle-truncated to what room is left."""
    return next(fit_all(enc, [text], budget, chat=chat))


def fit_all(enc: Encoder, texts: Iterable[str], budget: int, *, chat: bool = False,
            batch: int = 16) -> Iterator[Fitted]:
    """`fit` for each of `texts`, in order, tokenized `batch` texts per call: a fast tokenizer spreads
    a batch over the cores, which is most of the time a book-length benchmark takes to build."""
    before, after = chat_frame(enc.tokenizer) if chat else (list(enc.prefix), [])
    room = budget - len(before) - len(after)
    if room < 2:
        raise UsageError(f"a budget of {budget} tokens leaves no room for the prompt"
                         + (" inside the chat template" if chat else ""), "use a longer --length")
    pending = iter(texts)
    while chunk := list(itertools.islice(pending, batch)):
        for body in enc.tokenizer(chunk, add_special_tokens=False)["input_ids"]:
            kept = middle(list(body), room)
            yield Fitted(before + kept + after, len(body) - len(kept), chat)
