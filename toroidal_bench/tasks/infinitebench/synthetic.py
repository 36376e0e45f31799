"""InfiniteBench synthetic retrieval and Math.Find, generated locally at any length.

Data construction follows OpenBMB/InfiniteBench data/construct_synthetic_dataset.py, prompts the
`yarn_mistral` set of src/prompt.py (base-model style, used for YaRN-Mistral, Yi-200K, ChatGLM3), the
generation budgets DATA_NAME_TO_MAX_NEW_TOKENS and the scorers of src/compute_scores.py:
 - number_string: 10-digit key (5 random digits, then 5 times a digit is duplicated in place) in
   whole noise lines, built like passkey (59 needle positions x 10 keys); correct iff the first ASCII
   digit run of the output equals the key;
 - kv_retrieval: a JSON object of uuid4 key/value pairs (lost-in-the-middle style); sample k asks for
   the pair at fraction k/500 of the object (the original's `int(cnt * nnoise / nsample)`); correct
   iff the value is one of the output's words after replacing \\n : " ' . , ? ! { } by spaces;
 - math_find: a Python-printed list of ints in [0, 99]; one of the 7 find questions (largest …
   median), 50 samples each, cycled by sample index; correct iff the first number of the output
   equals the answer.
The original files fix the haystack size for 128K tokens; here the haystack fills the requested
length with whole noise lines / pairs / numbers, measured in the tokenizer's own encoding of the
prompt text (so prompts are canonical). Any first few samples spread over the needle positions.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterable
from typing import Any

from ...errors import UsageError
from .. import task_family
from ..base import Generate, Sample, TaskFamily
from ..passkey import first_int_match, noise_line_sample, noise_lines_for, sample_count, spread_position
from ..pieces import Encoder, canonical, encoder_for

_KV_SEPARATORS = ["\n", ":", '"', "'", ".", ",", "?", "!", "{", "}"]


def kv_words(pred: str) -> list[str]:
    for c in _KV_SEPARATORS:
        pred = pred.replace(c, " ")
    return pred.split()


def math_find_correct(pred: str, label: int | float) -> bool:
    """compute_scores.get_score_one_math_find. The original raises on int('3.5') for an int label;
    we count that as wrong."""
    m = re.search(r"\d+\.\d+|\d+", pred)
    if m is None:
        return False
    try:
        return (int(m.group(0)) if isinstance(label, int) else float(m.group(0))) == label
    except ValueError:
        return False


class _Synthetic(TaskFamily):
    metrics = ("accuracy",)

    def sample(self, enc: Encoder, built: tuple[list[int], bool], length: int, index: int, reference: Any,
               depth: float | None, **meta: Any) -> Sample:
        ids, ok = built
        max_new = int(self.params["max_new_tokens"])
        if len(ids) > length - max_new:
            raise AssertionError(f"{self.name}: {len(ids)} tokens for a budget of {length - max_new}")
        sample = Sample(id=f"{length}-{index}", request=Generate(tuple(ids), max_new_tokens=max_new),
                        reference=reference, prompt=enc.decode(ids), depth=depth,
                        meta={**meta, **({"canonical": True} if ok else {})})
        return canonical(sample, enc, length)

    def too_short(self, length: int) -> UsageError:
        return UsageError(f"length {length} is too short for task family '{self.name}'")


@task_family("infinitebench.number_string")
class NumberString(_Synthetic):
    version = "2"

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        enc, lines, budget = noise_lines_for(self, tokenizer, length, key_digits=10)  # raises at once
        return self._samples(enc, lines, budget, length, seed, sample_count(self.params, limit))

    def _samples(self, enc, lines, budget: int, length: int, seed: int, n: int) -> Iterable[Sample]:
        for index in range(n):
            rng = random.Random(f"{self.name}|{seed}|{length}|{index}")
            digits = [str(rng.randint(0, 9)) for _ in range(5)]
            for k in range(5):
                pos = rng.randint(0, 5 + k - 1)
                digits.insert(pos, digits[pos])
            yield noise_line_sample(self, enc, lines, budget, length, index, "".join(digits))

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        return {"accuracy": float(first_int_match(output) == sample.reference)}


@task_family("infinitebench.kv_retrieval")
class KVRetrieval(_Synthetic):
    version = "2"

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        enc = encoder_for(tokenizer)
        budget = length - int(self.params["max_new_tokens"])
        probe = str(uuid.UUID(int=0, version=4))
        if len(enc.text(self.text([(probe, probe)], probe))[0]) > budget:
            raise self.too_short(length)
        return self._samples(enc, budget, length, seed, sample_count(self.params, limit))

    def text(self, pairs: list[tuple[str, str]], key: str) -> str:
        """The prompt: construct_synthetic_dataset's 'JSON data:\\n{"k": "v", ...}' and the question."""
        before, after = self.params["template"].split("{context}")
        body = ", ".join(f'"{k}": "{v}"' for k, v in pairs)
        return before + "JSON data:\n{" + body + "}" + after.replace("{input}", _kv_input(key))

    def _samples(self, enc: Encoder, budget: int, length: int, seed: int, n: int) -> Iterable[Sample]:
        for index in range(n):
            rng = random.Random(f"{self.name}|{seed}|{length}|{index}")
            pairs = self._fill(enc, _pairs(rng), budget)
            depth = self.depth(index)
            answer = pairs[min(len(pairs) - 1, int(depth * len(pairs) + 1e-9))]
            while True:  # the estimate is exact unless tokens span pairs; then drop pairs until it fits
                built = enc.text(self.text(pairs, answer[0]))
                if len(built[0]) <= budget:
                    break
                if len(pairs) == 1:
                    raise self.too_short(length)
                pairs.pop(-1 if pairs[-1] != answer else -2)
            yield self.sample(enc, built, length, index, answer[1], depth, haystack="kv-json",
                              pairs=len(pairs), answer_index=pairs.index(answer))

    def depth(self, index: int) -> float:
        """Where sample `index` asks: k/positions for the k-th of `positions` slots (0 ≤ depth < 1), or
        one of an explicit `depths` list."""
        if "depths" in self.params:
            depths = [float(d) for d in self.params["depths"]]
            return depths[spread_position(index, len(depths))]
        positions = int(self.params["positions"])
        return spread_position(index, positions) / positions

    def _fill(self, enc: Encoder, pair, budget: int) -> list[tuple[str, str]]:
        """As many pairs as fit, counted as in-context pieces ' "k": "v",' (splits where pre-tokenizers
        split), with a few tokens to spare for the queried key."""
        pairs = [pair()]
        room = budget - len(enc.text(self.text(pairs, pairs[0][0]))[0]) - 4
        used = 0
        while True:
            batch = [pair() for _ in range(128)]
            for kv, cost in zip(batch, map(len, enc.many([f' "{k}": "{v}",' for k, v in batch])), strict=True):
                if used + cost > room:
                    return pairs
                pairs.append(kv)
                used += cost

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        return {"accuracy": float(sample.reference in kv_words(output))}


def _pairs(rng: random.Random):
    """A function drawing one uuid4 key/value pair from rng per call."""

    def pair() -> tuple[str, str]:
        return (str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                str(uuid.UUID(int=rng.getrandbits(128), version=4)))

    return pair


def _kv_input(key: str) -> str:
    return '\nKey: "' + key + '"\nThe value associated with the specified key is: '


MATH_FIND_INPUTS = {
    "largest number": "You should answer with only one number, no other words. The largest number of the list is: ",
    "second largest number": "You should answer with only one number, no other words. The second largest number of the list is: ",
    "third largest number": "You should answer with only one number, no other words. The third largest number of the list is: ",
    "smallest number": "You should answer with only one number, no other words. The smallest number of the list is: ",
    "second smallest number": "You should answer with only one number, no other words. The second smallest number of the list is: ",
    "third smallest number": "You should answer with only one number, no other words. The third smallest number of the list is: ",
    "median": "You should answer with only one number, no other words. The median number of the list is: ",
}


def math_find_answer(values: list[int], task: str) -> int | float:
    if task == "median":
        s = sorted(values)
        mid = len(s) // 2
        return s[mid] if len(s) % 2 else (s[mid] + s[mid - 1]) / 2
    distinct = sorted(set(values), reverse="largest" in task)
    rank = 2 if task.startswith("third") else 1 if task.startswith("second") else 0
    return distinct[rank]  # the original removes every copy of the extreme before looking again


@task_family("infinitebench.math_find")
class MathFind(_Synthetic):
    version = "2"

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        enc = encoder_for(tokenizer)
        budget = length - int(self.params["max_new_tokens"])
        if len(enc.text(self.text("median", [0, 0, 0]))[0]) > budget:  # the longest question, 3 numbers
            raise self.too_short(length)
        return self._samples(enc, budget, length, seed, sample_count(self.params, limit))

    def text(self, task: str, values: list[int]) -> str:
        """src/prompt.py's math_find template; create_prompt's prefix "What is {the X} in the following list?"."""
        question = MATH_FIND_INPUTS[task]
        target = re.findall(r"The .+ of", question)[0].lower()[:-3]  # "the largest number "
        prefix = f"What is {target} in the following list?"
        return (self.params["template"].replace("{prefix}", prefix).replace("{input}", question)
                .replace("{context}", str(values)))

    def _samples(self, enc: Encoder, budget: int, length: int, seed: int, n: int) -> Iterable[Sample]:
        p = self.params
        lo_val, hi_val = int(p.get("min_val", 0)), int(p.get("max_val", 99))
        tasks = list(MATH_FIND_INPUTS)
        for index in range(n):
            rng = random.Random(f"{self.name}|{seed}|{length}|{index}")
            task = tasks[index % len(tasks)]
            lo, hi = lo_val, hi_val
            if task.endswith("largest number") or (task == "median" and rng.random() <= 0.5):
                hi = rng.randint(int(hi_val * 0.8), hi_val)
            else:
                lo = rng.randint(lo_val, int(hi_val * 0.2))
            costs = dict(zip(range(lo, hi + 1), map(len, enc.many([f", {v}" for v in range(lo, hi + 1)])), strict=True))
            values = [rng.randint(lo, hi)]
            room = budget - len(enc.text(self.text(task, values))[0])
            used = 0
            while True:
                v = rng.randint(lo, hi)
                if used + costs[v] > room:
                    break
                values.append(v)
                used += costs[v]
            while True:  # the estimate is exact unless tokens span numbers; then drop numbers until it fits
                built = enc.text(self.text(task, values))
                if len(built[0]) <= budget:
                    break
                if len(values) <= 3:
                    raise self.too_short(length)
                values.pop()
            if len(values) < 3:
                raise self.too_short(length)
            yield self.sample(enc, built, length, index, math_find_answer(values, task), None,
                              haystack="numbers", question=task, list_length=len(values))

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        return {"accuracy": float(math_find_correct(output, sample.reference))}
