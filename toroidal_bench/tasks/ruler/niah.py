"""RULER niah_*: key-value needles in a noise, essay or distractor-needle haystack.

Re-implements scripts/data/synthetic/niah.py in token space. Per sample: k keys with v values each
give k·v needles "One of the special magic {type_needle_v} for {key} is: {value}.", shuffled with
`random.Random(seed)` (RULER's quirk: the same permutation for every sample); q of the keys are
queried and the answers are all their values. Haystacks:
 - noise: the grass/sky/sun sentence repeated, needles at random sentence indexes, joined by "\\n";
 - needle: random distractor needles instead of the noise sentence;
 - essay: prose, whitespace-normalised and split into sentences; each needle goes between sentences
   at a depth drawn without replacement from round(linspace(0, 100, 40)); joined by " ".
Haystack units (RULER's): essay words; noise lines; distractor needles. `sizing: ruler` counts them
as RULER's search does (increments of 500 words, or 25 lines — 5 below 4096 tokens); `sizing: fill`
takes the largest haystack that fits (essay: down to a word of the last sentence).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ...errors import UsageError
from .. import task_family
from ..haystack import SentencePieces, essay_pieces, load_source
from ..pieces import Encoder
from .base import Built, RulerTask, split_template
from .constants import DEPTHS, NEEDLE, NOISE
from .sizing import Search
from .words import random_value


def singular(template: str) -> str:
    """RULER's rewrite when one value is asked for: on the whole template, answer prefix included."""
    return (template.replace("Some", "A").replace("are all", "is").replace("are", "is")
            .replace("answers", "answer"))


@dataclass(frozen=True)
class NiahPlan:
    enc: Encoder
    length: int
    seed: int
    haystack: str
    kt: str  # key kind
    vt: str  # value kind
    nk: int
    nv: int
    nq: int
    template: str  # template + answer prefix, singular rewrite applied, {type_needle_v} filled
    prefix: str  # answer prefix, likewise
    essay: SentencePieces | None = None
    source_name: str = ""


@dataclass(frozen=True)
class Draw:
    """One sample's random content: its needles, answers and the prompt text around {context}."""

    needles: list[str]
    answers: list[str]
    text: str
    prefix: str


@task_family("ruler.niah")
class RulerNiah(RulerTask):
    kind = "niah"
    version = "2"

    def check_inputs(self) -> None:
        if self.params.get("type_haystack", "essay") == "essay":
            load_source(self.params)

    def plan(self, enc: Encoder, length: int, seed: int) -> NiahPlan:
        p = self.params
        haystack = p.get("type_haystack", "essay")
        if haystack not in ("noise", "needle", "essay"):
            raise UsageError(f"unknown RULER haystack type '{haystack}' (noise, needle, essay)")
        kt, vt = p.get("type_needle_k", "words"), p.get("type_needle_v", "numbers")
        nv, nq = int(p.get("num_needle_v", 1)), int(p.get("num_needle_q", 1))
        template, prefix, shown_v = self.template + self.answer_prefix, self.answer_prefix, vt
        if nq * nv == 1:
            template, prefix, shown_v = singular(template), singular(prefix), vt[:-1]
        essay, name = None, haystack
        if haystack == "essay":
            source = load_source(p)
            essay, name = essay_pieces(enc, source), source.name
        return NiahPlan(enc, length, seed, haystack, kt, vt, max(int(p.get("num_needle_k", 1)), nq), nv, nq,
                        template.replace("{type_needle_v}", shown_v), prefix.replace("{type_needle_v}", shown_v),
                        essay, name)

    def rule(self, length: int) -> Search:
        p = self.params
        step = 500 if p.get("type_haystack", "essay") == "essay" else (25 if length >= 4096 else 5)
        return Search(incremental=step, estimate_at=step)

    def draw(self, plan: NiahPlan, rng: random.Random) -> Draw:
        keys, values, needles = [], [], []
        for _ in range(plan.nk):
            keys.append(random_value(rng, plan.kt))
            values.append([random_value(rng, plan.vt) for _ in range(plan.nv)])
            needles += [NEEDLE.format(type_needle_v=plan.vt, key=keys[-1], value=v) for v in values[-1]]
        random.Random(plan.seed).shuffle(needles)
        chosen = rng.sample(range(plan.nk), plan.nq)
        queries = [keys[i] for i in chosen]
        answers = [a for i in chosen for a in values[i]]
        query = ", ".join(queries[:-1]) + ", and " + queries[-1] if plan.nq > 1 else queries[0]
        return Draw(needles, answers, plan.template.replace("{query}", query), plan.prefix.replace("{query}", query))

    def build(self, plan: NiahPlan, rng: random.Random, n: int, index: int) -> Built:
        d = self.draw(plan, rng)
        if plan.essay is not None:
            head, tail = self._essay_ends(plan, d)
            return self._essay(plan, d, head, tail, essay_words(plan.essay, n), rng, n)
        head, tail, needle_ids = self._line_ends(plan, d)
        if plan.haystack == "noise":
            items = [plan.enc.one("\n" + NOISE)] * n
        else:
            items = plan.enc.many(["\n" + self._distractor(plan, rng) for _ in range(n)])
        return self._lines(plan, d, head, tail, needle_ids, items, rng)

    def fill(self, plan: NiahPlan, rng: random.Random, index: int) -> Built:
        d = self.draw(plan, rng)
        if plan.essay is not None:
            return self._essay_fill(plan, d, rng)
        head, tail, needle_ids = self._line_ends(plan, d)
        room = self.budget(plan.length) - len(head) - len(tail) - sum(map(len, needle_ids))
        if plan.haystack == "noise":
            unit = plan.enc.one("\n" + NOISE)
            items = [unit] * (room // len(unit) if room > 0 else 0)
        else:
            items, used = [], 0
            while True:  # draw distractors in batches until the next one would not fit
                batch = [self._distractor(plan, rng) for _ in range(256)]
                for ids in plan.enc.many(["\n" + x for x in batch]):
                    if used + len(ids) > room:
                        break
                    items.append(ids)
                    used += len(ids)
                else:
                    continue
                break
        return self._lines(plan, d, head, tail, needle_ids, items, rng)

    @staticmethod
    def _distractor(plan: NiahPlan, rng: random.Random) -> str:
        return NEEDLE.format(type_needle_v=plan.vt, key=random_value(rng, plan.kt), value=random_value(rng, plan.vt))

    @staticmethod
    def _line_ends(plan: NiahPlan, d: Draw) -> tuple[list[int], list[int], list[list[int]]]:
        before, after = split_template(d.text)
        return plan.enc.head(before), plan.enc.one(after), plan.enc.many(["\n" + x for x in d.needles])

    def _lines(self, plan: NiahPlan, d: Draw, head: list[int], tail: list[int], needle_ids: list[list[int]],
               items: list[list[int]], rng: random.Random) -> Built:
        """noise / needle haystacks: one item per line, needles before items at random indexes."""
        n = len(items)
        if n < len(needle_ids):
            raise self.too_short(plan.length, len(head) + len(tail) + sum(map(len, needle_ids)) + len(needle_ids))
        # RULER: sorted(random.sample(...), reverse=True) zipped with the needles, inserted one by one
        slots = sorted(rng.sample(range(n), len(needle_ids)), reverse=True)
        at: dict[int, list[int]] = {}
        for slot, k in zip(slots, range(len(needle_ids)), strict=True):
            at.setdefault(slot, []).append(k)
        ids, depths = list(head), [0.0] * len(needle_ids)
        for j in range(n):
            for k in at.get(j, ()):
                depths[k] = j / n
                ids += needle_ids[k]
            ids += items[j]
        return self._built(plan, d, ids + tail, depths, n)

    @staticmethod
    def _essay_ends(plan: NiahPlan, d: Draw) -> tuple[list[int], list[int]]:
        before, after = d.text.split("{context}")
        return plan.enc.head(before), plan.enc.one(after)

    def _essay_fill(self, plan: NiahPlan, d: Draw, rng: random.Random) -> Built:
        enc, sp = plan.enc, plan.essay
        head, tail = self._essay_ends(plan, d)
        # upper bound: every needle may need the trailing separator space (see _essay)
        worst = sum(map(len, enc.many([" " + n + " " for n in d.needles])))
        room = self.budget(plan.length) - len(head) - len(tail) - worst
        if room <= 0:
            raise self.too_short(plan.length, self.budget(plan.length) - room)
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
        n_words = sp.words_before(len(pieces) - (1 if lo else 0)) + lo
        return self._essay(plan, d, head, tail, pieces, rng, n_words)

    def _essay(self, plan: NiahPlan, d: Draw, head: list[int], tail: list[int], pieces: list[list[int]],
               rng: random.Random, n_words: int) -> Built:
        """Needles between the sentence pieces at depths drawn without replacement from DEPTHS."""
        n = len(pieces)
        drawn = rng.sample(DEPTHS, len(d.needles))
        positions = sorted(int(n * x / 100) for x in drawn)
        depths = sorted(x / 100 for x in drawn)
        # RULER joins [seg0, needle0, seg1, ..., segK] with " ". A non-empty segment starting after
        # sentence 0 carries its separator; otherwise the needle before it carries a trailing one.
        ids = list(head)
        bounds = [0, *positions, n]
        for k, needle in enumerate(d.needles):
            ids += [t for piece in pieces[bounds[k]: bounds[k + 1]] for t in piece]
            nxt_start, nxt_end = bounds[k + 1], bounds[k + 2]
            carried = nxt_end > nxt_start and nxt_start > 0
            ids += plan.enc.one(" " + needle + ("" if carried else " "))
        ids += [t for piece in pieces[bounds[-2]:] for t in piece]
        return self._built(plan, d, ids + tail, depths, n_words)

    @staticmethod
    def _built(plan: NiahPlan, d: Draw, ids: list[int], depths: list[float], units: int) -> Built:
        first = next(i for i, n in enumerate(d.needles) if n.endswith(f" {d.answers[0]}."))
        return Built(ids, d.answers, units, depth=depths[first],
                     meta={"haystack": plan.source_name, "needle_depths": depths, "answer_prefix": d.prefix})


def essay_words(sp: SentencePieces, n: int) -> list[list[int]]:
    """The first `n` words of the haystack as sentence pieces, the last one cut to its first words
    (RULER: the first n words, then split into sentences)."""
    full, rest = sp.sentences_within(n)
    pieces = sp.ids[:full]
    if rest:
        part = " ".join(sp.sentence(full).split(" ")[:rest])
        pieces = [*pieces, sp.encoder.one((" " if full else "") + part)]
    return pieces
