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

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ...errors import UsageError
from .. import task_family
from ..base import Sample
from ..pieces import encoder_for
from .base import RulerTask, split_template

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


@task_family("ruler.qa")
class RulerQA(RulerTask):
    kind = "qa"
    version = "1"
    metrics = ("string_match_part",)

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        import random

        dataset = self.params.get("dataset", "squad")
        if dataset not in FILES:
            raise UsageError(f"unknown RULER qa dataset '{dataset}'", "valid: squad, hotpotqa")
        questions, docs = load(dataset, self.params.get("data_dir"))
        enc = encoder_for(tokenizer)
        offset = int(self.params.get("first_question", 0))
        for index in range(self.count(limit)):
            q = questions[(offset + index) % len(questions)]
            rng = self.rng(seed, length, index)
            text = (self.template + self.answer_prefix).replace("{query}", q.query)
            before, after = split_template(text, sep="\n\n")
            head, tail = enc.head(before), enc.one(after)
            room = self.budget(length) - len(head) - len(tail)
            chosen, used = [], 0
            for doc in self._candidates(rng, q, len(docs)):
                header = enc.one(f"\n\nDocument {len(chosen) + 1}:\n")
                cost = len(header) + len(enc.one(docs[doc]))
                if used + cost > room:
                    break
                chosen.append(doc)
                used += cost
            if len(chosen) < len(q.gold):
                raise self.too_short(length, self.budget(length) - room + used)
            random.Random(seed).shuffle(chosen)
            ids = list(head)
            for i, doc in enumerate(chosen):
                ids += enc.one(f"\n\nDocument {i + 1}:\n") + enc.one(docs[doc])
            gold = sorted(i for i, doc in enumerate(chosen) if doc in q.gold)
            yield self.make(enc, ids + tail, length, index, list(q.answers), depth=gold[0] / len(chosen),
                            haystack=dataset, gold_positions=gold,
                            haystack_units=len(chosen), question_index=offset + index,
                            answer_prefix=self.answer_prefix)

    @staticmethod
    def _candidates(rng, q: Question, total: int) -> Iterable[int]:
        """Gold documents, then same-article ones in random order, then random others, without repeats."""
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
