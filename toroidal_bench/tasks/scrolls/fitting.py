"""Fitting a SCROLLS / ZeroSCROLLS prompt into a length: the document's end goes, the query stays.

ZeroSCROLLS' runners (experiments/hf/run_hf_model.py process_model_input, experiments/api) tokenize
the whole input; when it is too long they keep the first tokens of `input[:query_start_index]` (the
instruction and the start of the document) and append the tokens of `truncation_seperator +
input[query_start_index:]` (the query and the response header), so that the total fits. SCROLLS'
seq2seq baselines cut the end of "query\\n\\ndocument", which also keeps the query and the start of
the document; with the decoder prompt (document first, question last) that is the same cut with
no separator. Here the cut is made in token space with tbench's length semantics: the special
prefix (or the chat frame) + prompt + answer budget ≤ length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...errors import UsageError
from ..pieces import Encoder
from ..prompting import chat_frame


@dataclass(frozen=True)
class Fitted:
    ids: list[int]
    truncated_tokens: int  # tokens of the document the cut removed


def frame(enc: Encoder, chat: bool) -> tuple[list[int], list[int]]:
    """The ids around the prompt: the chat template's around one user turn, else the special prefix."""
    return chat_frame(enc.tokenizer) if chat else (list(enc.prefix), [])


def keep_query(enc: Encoder, body: str, suffix: str, budget: int, *, chat: bool = False,
               separator: str = "") -> Fitted:
    """`body + suffix` in at most `budget` ids; when it is longer, the first tokens of `body` that
    leave room for `separator + suffix`, which is kept whole."""
    before, after = frame(enc, chat)
    whole = _plain(enc.tokenizer, body + suffix)
    if len(before) + len(whole) + len(after) <= budget:
        return Fitted(before + whole + after, 0)
    kept_tail = enc.fresh(separator + suffix)  # encoded as it reads after the document's last kept token
    room = budget - len(before) - len(after) - len(kept_tail)
    if room < 1:
        raise UsageError(f"a budget of {budget} tokens leaves no room for the document beside its query "
                         f"({len(kept_tail)} tokens" + (" inside the chat template)" if chat else ")"),
                         "use a longer --length")
    head = _plain(enc.tokenizer, body)
    return Fitted(before + head[:room] + kept_tail + after, max(0, len(head) - room))


def _plain(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []
