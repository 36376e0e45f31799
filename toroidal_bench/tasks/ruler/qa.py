"""RULER qa_1 (SQuAD v2) and qa_2 (HotpotQA): answer a question from gold documents among distractors.

Re-implements scripts/data/synthetic/qa.py in token space, reading the original files from
`data_dir`: SQuAD `dev-v2.0.json` (RULER's json/squad.json) and HotpotQA
`hotpot_dev_distractor_v1.json` (RULER's json/hotpotqa.json). Documents are the de-duplicated,
sorted paragraphs (SQuAD) or "title\\n" + joined sentences (HotpotQA). Sample i asks question i in
file order (SQuAD: answerable questions only; references = all annotator answers). Its documents are
the gold ones, then (SQuAD) other paragraphs of the same article, then random others, as many as
fit; shuffled with `random.Random(seed)`; rendered "Document {i}:\\n{doc}" and joined by blank lines.
Scored by string_match_part (any reference found).
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ...errors import UsageError
from .. import task_family
from ..pieces import Encoder
from .base import PROBE, Built, RulerTask, split_template
from .sizing import Search

FILES = {"squad": ("dev-v2.0.json", "squad.json"), "hotpotqa": ("hotpot_dev_distractor_v1.json", "hotpotqa.json")}
DESCRIBE = {"squad": "the SQuAD v2.0 dev set", "hotpotqa": "the HotpotQA dev distractor set"}


@dataclass(frozen=True)
class Question:
    query: str
    answers: tuple[str, ...]
    gold: tuple[int, ...]
    more: tuple[int, ...] = ()  # same-article paragraphs (SQuAD), the first distractors


def read_squad(data: dict) -> tuple[list[Question], list[str]]:
    docs = sorted({p["context"] for d in data["data"] for p in d["paragraphs"]})
    where = {c: i for i, c in enumerate(docs)}
    out = []
    for d in data["data"]:
        article = [where[p["context"]] for p in d["paragraphs"]]
        for p in d["paragraphs"]:
            own = where[p["context"]]
            for qa in p["qas"]:
                if not qa["is_impossible"]:
                    out.append(Question(qa["question"], tuple(a["text"] for a in qa["answers"]), (own,),
                                        tuple(i for i in article if i != own)))
    return out, docs


def read_hotpotqa(data: list) -> tuple[list[Question], list[str]]:
    def render(title: str, sents: list[str]) -> str:
        return f"{title}\n{''.join(sents)}"

    docs = sorted({render(t, s) for d in data for t, s in d["context"]})
    where = {c: i for i, c in enumerate(docs)}
    return [Question(d["question"], (d["answer"],), tuple(where[render(t, s)] for t, s in d["context"]))
            for d in data], docs


@lru_cache(maxsize=4)
def load(dataset: str, data_dir: str | None) -> tuple[list[Question], list[str]]:
    names = FILES[dataset]
    root = Path(data_dir).expanduser() if data_dir else None
    path = next((root / n for n in names if root and (root / n).is_file()), None)
    if path is None:
        raise UsageError(f"RULER {dataset} needs {DESCRIBE[dataset]} as a local file: '{names[0]}' "
                         f"(or RULER's name '{names[1]}') in data_dir"
                         + (f" (looked in {root})" if root else " (none given)"),
                         "download it once and pass --data-dir FOLDER (task param data_dir)")
    data = json.loads(path.read_text(encoding="utf-8"))
    return read_squad(data) if dataset == "squad" else read_hotpotqa(data)


@dataclass(frozen=True)
class QaPlan:
    enc: Encoder
    length: int
    seed: int
    dataset: str
    questions: list[Question]
    docs: list[str]


@task_family("ruler.qa")
class RulerQA(RulerTask):
    kind = "qa"
    version = "2"
    metrics = ("string_match_part",)

    def check_inputs(self) -> None:
        self._data()

    def _data(self) -> tuple[str, list[Question], list[str]]:
        dataset = self.params.get("dataset", "squad")
        if dataset not in FILES:
            raise UsageError(f"unknown RULER qa dataset '{dataset}'", "valid: squad, hotpotqa")
        return dataset, *load(dataset, self.params.get("data_dir"))

    def plan(self, enc: Encoder, length: int, seed: int) -> QaPlan:
        dataset, questions, docs = self._data()
        if not questions or not docs:
            raise UsageError(f"RULER {dataset}: the data file holds no usable question or document")
        return QaPlan(enc, length, seed, dataset, questions, docs)

    def rule(self, length: int) -> Search:
        return Search(incremental=10, estimate_at=10)

    def question_index(self, plan: QaPlan, index: int) -> int:
        """Sample i asks question first_question + i in file order; RULER's search probes ask question 0."""
        if index == PROBE:
            return 0
        return (int(self.params.get("first_question", 0)) + index) % len(plan.questions)

    def question(self, plan: QaPlan, index: int) -> Question:
        return plan.questions[self.question_index(plan, index)]

    def build(self, plan: QaPlan, rng: random.Random, n: int, index: int) -> Built:
        q = self.question(plan, index)
        total = len(plan.docs)
        if n >= total:  # RULER: every document, in file order, repeated as needed
            chosen = [i % total for i in range(n)]
        elif n - len(q.gold) > len(q.more):
            others = sorted(set(range(total)) - set(q.gold) - set(q.more))
            chosen = [*q.gold, *q.more, *rng.sample(others, n - len(q.gold) - len(q.more))]
        else:
            chosen = [*q.gold, *rng.sample(q.more, max(n - len(q.gold), 0))]
        return self._render(plan, q, index, chosen)

    def fill(self, plan: QaPlan, rng: random.Random, index: int) -> Built:
        q = self.question(plan, index)
        head, tail = self._ends(plan, q)
        room = self.budget(plan.length) - len(head) - len(tail)
        chosen, used = [], 0
        for doc in self._candidates(rng, q, len(plan.docs)):
            cost = len(plan.enc.one(f"\n\nDocument {len(chosen) + 1}:\n")) + len(plan.enc.one(plan.docs[doc]))
            if used + cost > room:
                break
            chosen.append(doc)
            used += cost
        if len(chosen) < len(q.gold):
            gold = sum(len(plan.enc.one(f"\n\nDocument {i + 1}:\n")) + len(plan.enc.one(plan.docs[d]))
                       for i, d in enumerate(q.gold))
            raise self.too_short(plan.length, len(head) + len(tail) + gold)
        return self._render(plan, q, index, chosen)

    def _ends(self, plan: QaPlan, q: Question) -> tuple[list[int], list[int]]:
        text = (self.template + self.answer_prefix).replace("{query}", q.query)
        before, after = split_template(text, sep="\n\n")
        return plan.enc.head(before), plan.enc.one(after)

    def _render(self, plan: QaPlan, q: Question, index: int, chosen: list[int]) -> Built:
        chosen = list(chosen)
        random.Random(plan.seed).shuffle(chosen)
        head, tail = self._ends(plan, q)
        ids = list(head)
        for i, doc in enumerate(chosen):
            ids += plan.enc.one(f"\n\nDocument {i + 1}:\n") + plan.enc.one(plan.docs[doc])
        gold = sorted(i for i, doc in enumerate(chosen) if doc in q.gold)
        return Built(ids + tail, list(q.answers), len(chosen), depth=gold[0] / len(chosen) if gold else None,
                     meta={"haystack": plan.dataset, "gold_positions": gold,
                           "question_index": self.question_index(plan, index),
                           "answer_prefix": self.answer_prefix})

    @staticmethod
    def _candidates(rng: random.Random, q: Question, total: int) -> Iterator[int]:
        """Gold documents, then same-article ones in random order, then random others; once every
        document is used, all of them again in file order, repeatedly (RULER's repetition)."""
        yield from q.gold
        more = list(q.more)
        rng.shuffle(more)
        yield from more
        seen = set(q.gold) | set(q.more)
        while len(seen) < total:
            doc = rng.randrange(total)
            if doc not in seen:
                seen.add(doc)
                yield doc
        yield from itertools.cycle(range(total))
