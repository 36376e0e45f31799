"""InfiniteBench synthetic retrieval and Math.Find, generated locally at any length.

Data construction follows OpenBMB/InfiniteBench data/construct_synthetic_dataset.py, prompts the
`yarn_mistral` set of src/prompt.py (base-model style, used for YaRN-Mistral, Yi-200K, ChatGLM3), the
generation budgets DATA_NAME_TO_MAX_NEW_TOKENS and the scorers of src/compute_scores.py:
 - number_string: 10-digit key (5 random digits, then 5 times a digit is duplicated in place) in
   repeated noise lines; correct iff the first digit run of the output equals the key;
 - kv_retrieval: a JSON object of uuid4 key/value pairs (lost-in-the-middle style); correct iff the
   value is one of the output's words after replacing \\n : " ' . , ? ! { } by spaces;
 - math_find: a Python-printed list of ints in [0, 99]; one of the 7 find questions (largest …
   median), cycled by sample index; correct iff the first number of the output equals the answer.
The original files fix the haystack size for 128K tokens; here the haystack fills the requested
length (whole noise lines / whole pairs / whole numbers), and the needle or queried pair sits at a
depth from `depths`. The passkey task keeps its own family (tasks/passkey.py).
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterable
from typing import Any

from ..errors import UsageError
from . import task_family
from .base import Generate, Sample, TaskFamily
from .pieces import Encoder, encoder_for

_KV_SEPARATORS = ["\n", ":", '"', "'", ".", ",", "?", "!", "{", "}"]


def first_int_match(pred: str) -> str:
    """compute_scores.first_int_match: the first non-empty run of ASCII digits, or ''."""
    return next((part for part in re.split("[^0-9]", pred) if part), "")


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

    def setup(self, tokenizer: Any, length: int, limit: int | None):
        p = self.params
        n = int(p.get("num_samples", 50))
        n = n if limit is None else min(n, limit)
        depths = [float(d) for d in p.get("depths", [0.0, 0.25, 0.5, 0.75, 1.0])]
        return encoder_for(tokenizer), int(p["max_new_tokens"]), n, depths

    def sample(self, enc: Encoder, ids: list[int], length: int, index: int, max_new: int, reference: Any,
               depth: float | None, **meta: Any) -> Sample:
        if len(ids) > length - max_new:
            raise AssertionError(f"{self.name}: {len(ids)} tokens for a budget of {length - max_new}")
        return Sample(id=f"{length}-{index}", request=Generate(tuple(ids), max_new_tokens=max_new),
                      reference=reference, prompt=enc.decode(ids), depth=depth, meta=meta)

    def too_short(self, length: int) -> UsageError:
        return UsageError(f"length {length} is too short for task family '{self.name}'")


@task_family("infinitebench.number_string")
class NumberString(_Synthetic):
    version = "1"

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        p = self.params
        enc, max_new, n, depths = self.setup(tokenizer, length, limit)
        before, after = p["template"].split("{context}")
        after = after.replace("{input}", p["question"])
        head = enc.head(before)
        noise = enc.one(p["noise"])
        fused = enc.one(p["noise"] + after)  # the last line and what follows, tokenized together
        for index in range(n):
            rng = random.Random(f"{self.name}|{seed}|{length}|{index}")
            digits = [str(rng.randint(0, 9)) for _ in range(5)]
            for k in range(5):
                pos = rng.randint(0, 5 + k - 1)
                digits.insert(pos, digits[pos])
            key = "".join(digits)
            needle = p["needle"].replace("{key}", key)
            room = length - max_new - len(head) - len(fused) - len(enc.one(needle))
            lines = room // len(noise) + 1  # + the fused last line
            if room < 0:
                raise self.too_short(length)
            depth = depths[index % len(depths)]
            at = round(depth * lines)
            if at == lines:  # needle last: it is fused with what follows instead
                ids = head + noise * lines + enc.one(needle + after)
            else:
                ids = head + noise * at + enc.one(needle) + noise * (lines - at - 1) + fused
            yield self.sample(enc, ids, length, index, max_new, key, depth, haystack="noise", noise_lines=lines)

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        return {"accuracy": float(first_int_match(output) == sample.reference)}


@task_family("infinitebench.kv_retrieval")
class KVRetrieval(_Synthetic):
    version = "1"

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        p = self.params
        enc, max_new, n, depths = self.setup(tokenizer, length, limit)
        before, after = p["template"].split("{context}")
        for index in range(n):
            rng = random.Random(f"{self.name}|{seed}|{length}|{index}")
            pair = _pairs(rng)
            first, last = pair(), pair()
            # pieces split where pre-tokenizers split: before the space that opens each pair
            head = enc.head(before + 'JSON data:\n{"' + first[0] + '": "' + first[1] + '",')
            middle: list[tuple[str, str]] = []
            probe = enc.one(f' "{last[0]}": "{last[1]}"}}' + after.replace("{input}", _kv_input(last[0])))
            room = length - max_new - len(head) - len(probe) - 4  # slack: the queried key may tokenize longer
            if room < 0:
                raise self.too_short(length)
            used = 0
            while True:
                batch = [pair() for _ in range(128)]
                costs = [len(x) for x in enc.many([f' "{k}": "{v}",' for k, v in batch])]
                for kv, cost in zip(batch, costs, strict=True):
                    if used + cost > room:
                        break
                    middle.append(kv)
                    used += cost
                else:
                    continue
                break
            pairs = [first, *middle, last]
            depth = depths[index % len(depths)]
            answer = pairs[round(depth * (len(pairs) - 1))]
            tail = enc.one(f' "{last[0]}": "{last[1]}"}}' + after.replace("{input}", _kv_input(answer[0])))
            pieces = enc.many([f' "{k}": "{v}",' for k, v in middle])
            while len(head) + sum(map(len, pieces)) + len(tail) > length - max_new:
                drop = max((i for i, kv in enumerate(middle) if kv != answer), default=None)
                if drop is None:  # the queried key outgrew the slack and nothing is left to drop
                    raise self.too_short(length)
                del middle[drop], pieces[drop]
            pairs = [first, *middle, last]
            ids = head + [t for piece in pieces for t in piece] + tail
            yield self.sample(enc, ids, length, index, max_new, answer[1], depth, haystack="kv-json",
                              pairs=len(pairs))

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
    version = "1"

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        p = self.params
        enc, max_new, n, _ = self.setup(tokenizer, length, limit)
        lo_val, hi_val = int(p.get("min_val", 0)), int(p.get("max_val", 99))
        tasks = list(MATH_FIND_INPUTS)
        for index in range(n):
            rng = random.Random(f"{self.name}|{seed}|{length}|{index}")
            task = tasks[index % len(tasks)]
            question = MATH_FIND_INPUTS[task]
            target = re.findall(r"The .+ of", question)[0].lower()[:-3]  # prompt.py: "the largest number "
            prefix = f"What is {target} in the following list?"
            before, after = p["template"].replace("{prefix}", prefix).replace("{input}", question).split("{context}")
            head, tail = enc.head(before + "["), enc.one("]" + after)
            lo, hi = lo_val, hi_val
            if task.endswith("largest number") or (task == "median" and rng.random() <= 0.5):
                hi = rng.randint(int(hi_val * 0.8), hi_val)
            else:
                lo = rng.randint(lo_val, int(hi_val * 0.2))
            costs = dict(zip(range(lo, hi + 1), map(len, enc.many([f", {v}" for v in range(lo, hi + 1)])), strict=True))
            firsts = dict(zip(range(lo, hi + 1), enc.many([str(v) for v in range(lo, hi + 1)]), strict=True))
            room = length - max_new - len(head) - len(tail)
            values = [rng.randint(lo, hi)]
            used = len(firsts[values[0]])
            while True:
                v = rng.randint(lo, hi)
                if used + costs[v] > room:
                    break
                values.append(v)
                used += costs[v]
            if used > room or len(values) < 3:
                raise self.too_short(length)
            ids = head + firsts[values[0]] + [t for ids in enc.many([f", {v}" for v in values[1:]]) for t in ids] + tail
            yield self.sample(enc, ids, length, index, max_new, math_find_answer(values, task), None,
                              haystack="numbers", question=task, list_length=len(values))

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        return {"accuracy": float(math_find_correct(output, sample.reference))}
