"""Rolling windows for whole-sequence log-likelihood.

`disjoint_windows` reproduces lm-evaluation-harness's `get_rolling_token_windows(context_len=1)` +
`make_disjoint_window`: the first window is [prefix] + tokens[:L−1] predicting tokens[:L]; each later
window predicts the next L tokens from the tokens before them; only the last, partial window keeps a
full-length context. `strided_windows` is the HF/YaRN sliding window: windows start every `stride`
tokens and each scores only tokens no earlier window scored. Either way every token is scored once.
A window is (input_ids, n_scored): the model reads input_ids and the last n_scored next-token
predictions are kept.
"""

from __future__ import annotations

from collections.abc import Sequence

Window = tuple[list[int], int]


def disjoint_windows(tokens: Sequence[int], prefix: int, max_length: int) -> list[Window]:
    tokens = list(tokens)
    if not tokens:
        return []
    first = min(max_length, len(tokens))
    windows: list[Window] = [([prefix] + tokens[: first - 1] + [tokens[first - 1]], first)]
    done = first
    while done < len(tokens):
        n = min(len(tokens) - done, max_length)
        end = done + n
        start = max(0, end - max_length - 1)
        windows.append((tokens[start:end], n))
        done = end
    return windows


def strided_windows(tokens: Sequence[int], prefix: int, max_length: int, stride: int) -> list[Window]:
    """Sliding windows of ≤ max_length inputs (prefix included), advancing by `stride`."""
    if not 0 < stride <= max_length:
        raise ValueError(f"stride must be in 1..max_length ({max_length}), got {stride}")
    seq = [prefix] + list(tokens)  # seq[i + 1] is token i; seq[0] only ever serves as context
    windows: list[Window] = []
    scored, begin = 0, 0
    while scored < len(tokens):
        end = min(begin + max_length, len(tokens))  # reads seq[begin:end], predicts tokens[begin:end]
        windows.append((seq[begin : end + 1], end - scored))
        scored = end
        begin += stride
    return windows
