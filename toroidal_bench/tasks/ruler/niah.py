"""RULER niah_*: key-value needles in a noise, essay or distractor-needle haystack.

Re-implements scripts/data/synthetic/niah.py in token space. Per sample: k keys with v values each
give k·v needles "One of the special magic {type_needle_v} for {key} is: {value}.", shuffled with
`random.Random(seed)` (RULER's quirk: the same permutation for every sample); q of the keys are
queried and the answers are all their values. Haystacks:
 - noise: the grass/sky/sun sentence repeated, needles at random sentence indexes, joined by "\\n";
 - needle: random distractor needles instead of the noise sentence;
 - essay: prose, whitespace-normalised and split into sentences; each needle goes between sentences
   at a depth drawn without replacement from round(linspace(0, 100, 40)); joined by " ".
RULER sizes the haystack by binary search over re-tokenized text; here unit token counts add up
exactly, so the haystack is the largest that fits (essay: down to a word of the last sentence).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from ...errors import UsageError
from .. import task_family
from ..base import Sample
from ..haystack import essay_pieces, load_source
from ..pieces import Encoder, encoder_for
from .base import RulerTask, split_template
from .constants import DEPTHS, NEEDLE, NOISE
from .words import random_value


def singular(template: str) -> str:
    """RULER's rewrite when one value is asked for: on the whole template, answer prefix included."""
    return (template.replace("Some", "A").replace("are all", "is").replace("are", "is")
            .replace("answers", "answer"))


@task_family("ruler.niah")
class RulerNiah(RulerTask):
    kind = "niah"
    version = "1"

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        p = self.params
        haystack = p.get("type_haystack", "essay")
        kt, vt = p.get("type_needle_k", "words"), p.get("type_needle_v", "numbers")
        nv, nq = int(p.get("num_needle_v", 1)), int(p.get("num_needle_q", 1))
        nk = max(int(p.get("num_needle_k", 1)), nq)
        enc = encoder_for(tokenizer)
        template, prefix = self.template + self.answer_prefix, self.answer_prefix
        shown_v = vt
        if nq * nv == 1:
            template, prefix, shown_v = singular(template), singular(prefix), vt[:-1]
        for index in range(self.count(limit)):
            rng = self.rng(seed, length, index)
            keys, values, needles = [], [], []
            for _ in range(nk):
                keys.append(random_value(rng, kt))
                values.append([random_value(rng, vt) for _ in range(nv)])
                needles += [NEEDLE.format(type_needle_v=vt, key=keys[-1], value=v) for v in values[-1]]
            random.Random(seed).shuffle(needles)
            chosen = rng.sample(range(nk), nq)
            queries = [keys[i] for i in chosen]
            answers = [a for i in chosen for a in values[i]]
            query = ", ".join(queries[:-1]) + ", and " + queries[-1] if nq > 1 else queries[0]
            text = template.replace("{type_needle_v}", shown_v).replace("{query}", query)
            if haystack == "essay":
                ids, depths, units, name = self._essay(enc, text, needles, length, rng)
            else:
                ids, depths, units, name = self._lines(enc, text, needles, length, rng, haystack, kt, vt)
            first = next(i for i, n in enumerate(needles) if n.endswith(f" {answers[0]}."))
            yield self.make(enc, ids, length, index, answers, depth=depths[first], haystack=name,
                            haystack_units=units, needle_depths=depths,
                            answer_prefix=prefix.replace("{type_needle_v}", shown_v).replace("{query}", query))

    def _lines(self, enc: Encoder, text: str, needles: list[str], length: int, rng: random.Random,
               haystack: str, kt: str, vt: str) -> tuple[list[int], list[float], int, str]:
        """noise / needle haystacks: one item per line."""
        before, after = split_template(text)
        head, tail = enc.head(before), enc.one(after)
        needle_ids = enc.many(["\n" + n for n in needles])
        room = self.budget(length) - len(head) - len(tail) - sum(map(len, needle_ids))
        if haystack == "noise":
            unit = enc.one("\n" + NOISE)
            n = room // len(unit) if room > 0 else 0
            items = [unit] * n
        elif haystack == "needle":
            items, used = [], 0
            while True:  # draw distractors in batches until the next one would not fit
                batch = [NEEDLE.format(type_needle_v=vt, key=random_value(rng, kt), value=random_value(rng, vt))
                         for _ in range(256)]
                for ids in enc.many(["\n" + d for d in batch]):
                    if used + len(ids) > room:
                        break
                    items.append(ids)
                    used += len(ids)
                else:
                    continue
                break
            n = len(items)
        else:
            raise UsageError(f"unknown RULER haystack type '{haystack}' (noise, needle, essay)")
        if n < len(needles):
            raise self.too_short(length, self.budget(length) - room + len(needles))
        # RULER: sorted(random.sample(...), reverse=True) zipped with the needles, inserted one by one
        slots = sorted(rng.sample(range(n), len(needles)), reverse=True)
        at: dict[int, list[int]] = {}
        for slot, k in zip(slots, range(len(needles)), strict=True):
            at.setdefault(slot, []).append(k)
        ids, depths = list(head), [0.0] * len(needles)
        for j in range(n):
            for k in at.get(j, ()):
                depths[k] = j / n
                ids += needle_ids[k]
            ids += items[j]
        return ids + tail, depths, n, haystack

    def _essay(self, enc: Encoder, text: str, needles: list[str], length: int,
               rng: random.Random) -> tuple[list[int], list[float], int, str]:
        source = load_source(self.params)
        sp = essay_pieces(enc, source)
        before, after = text.split("{context}")
        head, tail = enc.head(before), enc.one(after)
        # upper bound: every needle may need the trailing separator space (see below)
        worst = sum(map(len, enc.many([" " + n + " " for n in needles])))
        room = self.budget(length) - len(head) - len(tail) - worst
        if room <= 0:
            raise self.too_short(length, self.budget(length) - room)
        pieces: list[list[int]] = []
        used = 0
        while True:
            sp.ensure(len(pieces) + 64)
            nxt = sp.ids[len(pieces)]
            if used + len(nxt) > room:
                break
            pieces.append(nxt)
            used += len(nxt)
        words = sp.sentence(len(pieces)).split(" ")
        lo, hi = 0, len(words) - 1  # the longest word prefix of the next sentence that still fits
        while lo < hi:
            mid = (lo + hi + 1) // 2
            part = (" " if pieces else "") + " ".join(words[:mid])
            if len(enc.one(part)) <= room - used:
                lo = mid
            else:
                hi = mid - 1
        if lo:
            pieces.append(enc.one((" " if pieces else "") + " ".join(words[:lo])))
        n = len(pieces)
        drawn = rng.sample(DEPTHS, len(needles))
        positions = sorted(int(n * d / 100) for d in drawn)
        depths = sorted(d / 100 for d in drawn)
        # RULER joins [seg0, needle0, seg1, ..., segK] with " ". A non-empty segment starting after
        # sentence 0 carries its separator; otherwise the needle before it carries a trailing one.
        ids = list(head)
        bounds = [0, *positions, n]
        for k, needle in enumerate(needles):
            ids += [t for piece in pieces[bounds[k]: bounds[k + 1]] for t in piece]
            nxt_start, nxt_end = bounds[k + 1], bounds[k + 2]
            carried = nxt_end > nxt_start and nxt_start > 0
            ids += enc.one(" " + needle + ("" if carried else " "))
        ids += [t for piece in pieces[bounds[-2]:] for t in piece]
        return ids + tail, depths, n, source.name
