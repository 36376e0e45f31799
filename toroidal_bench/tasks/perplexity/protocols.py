"""How a document's tokens are cut into windows of the context length L: the three protocols.

  disjoint   lm-evaluation-harness's `loglikelihood_rolling` (`get_rolling_token_windows` with
             context_len=1 + `make_disjoint_window`): the first window is the prefix token (BOS,
             else EOS) and L−1 tokens, predicting the first L tokens; each later window predicts
             the next L tokens from the L tokens before them, the context is not re-scored. Its
             figures are lm-eval's `word_perplexity`, `byte_perplexity` and `bits_per_byte`.
  sliding    the loop of transformers' guide "Perplexity of fixed-length models": windows of L
             tokens (prefix included) start every S tokens and score only the tokens no earlier
             window scored, so every token but the first few sees L−S to L−1 tokens of context.
             S defaults to L/2 (the guide's 512 of 1024) and must be below L.
  at-length  perplexity at context length L as in the Position Interpolation, YaRN and LongLoRA
             PG-19/proof-pile tables: only documents of at least L tokens, optionally cut to their
             first `max_tokens` tokens, scored with the sliding window at stride S = 256 (Press et
             al.'s). Two departures from YaRN's script, both stated in docs/perplexity.md: the
             prefix token is read only by the first window, not by every one, and the figure is
             token-weighted, exp(Σ NLL ÷ Σ tokens), not the mean of window means.

Every protocol scores each token of a document exactly once. The first window of every protocol
sees the document from its start, so its tokens give NLL by position (scoring.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import UsageError
from ..base import Rolling

PROTOCOLS = ("disjoint", "sliding", "at-length")
AT_LENGTH_STRIDE = 256


@dataclass(frozen=True)
class Windows:
    """A protocol applied at one context length: which documents it takes and how it reads them."""

    protocol: str
    length: int
    stride: int | None  # None: disjoint windows
    min_tokens: int  # shorter documents are skipped
    max_tokens: int | None  # longer documents are cut to this many tokens

    def request(self, tokens: list[int]) -> tuple[Rolling, int]:
        """The runner request for a document's tokens, and how many tokens were cut off its end."""
        kept = tokens[: self.max_tokens] if self.max_tokens else tokens
        cut = len(tokens) - len(kept)
        if self.stride is None:
            return Rolling(tuple(kept), self.length), cut
        # a window of L tokens scores at most L − 1 of them: the runner's strided windows hold
        # L − 1 inputs after the first, which is the guide's window of L with its last logit unused
        return Rolling(tuple(kept), self.length - 1, self.stride), cut


def windows(protocol: str, length: int, stride: int | None = None, min_tokens: int | None = None,
            max_tokens: int | None = None) -> Windows:
    """The protocol's windows at `length`, every setting checked (UsageError when it cannot run)."""
    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown perplexity protocol '{protocol}'", f"valid: {', '.join(PROTOCOLS)}")
    if protocol == "disjoint":
        if stride is not None:
            raise UsageError("protocol disjoint takes no stride", "use protocol sliding or at-length for strides")
        return Windows(protocol, length, None, min_tokens or 1, max_tokens)
    if length < 2:
        raise UsageError(f"protocol {protocol} needs a length of at least 2 tokens, got {length}")
    if stride is None:
        stride = max(1, length // 2) if protocol == "sliding" else min(AT_LENGTH_STRIDE, length - 1)
    if not 1 <= stride < length:
        raise UsageError(f"stride {stride} must be below the length {length} (protocol {protocol})",
                         "for windows that do not overlap use protocol disjoint")
    floor = length if protocol == "at-length" else 1
    if protocol == "at-length" and max_tokens is not None and max_tokens < length:
        raise UsageError(f"max_tokens {max_tokens} is below the length {length}: no window would be full")
    return Windows(protocol, length, stride, max(floor, min_tokens or 1), max_tokens)
