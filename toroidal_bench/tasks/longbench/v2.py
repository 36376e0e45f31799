"""LongBench v2: 503 four-choice questions on contexts of 8k to 2M words (THUDM/LongBench @2e00731,
the repository's top level: pred.py, result.py, prompts/).

As pred.py and result.py do it:
 - the prompt is a template of prompts/ (verbatim in the task YAML) with $DOC$, $Q$, $C_A$..$C_D$
   replaced, in that order, by the record's stripped context, question and choices;
 - the tokenized prompt loses its middle to fit (prompting.fit; the length minus the answer budget);
   with --chat-template it is one user turn of the tokenizer's chat template, as the OpenAI-compatible
   server pred.py queries makes it for chat models;
 - zero-shot answers get 128 new tokens; with chain of thought (`longbench_v2_cot`) the model first
   reasons for up to 1024 tokens after prompts/0shot_cot.txt, then answers in 128 tokens to
   prompts/0shot_cot_ans.txt, which holds the question and the stripped reasoning but not the text;
 - the answer letter is pred.py's extract_answer; a sample scores 100 when it is the right letter, else
   0, under `accuracy` and under its own difficulty (`accuracy_easy`/`_hard`) and length class
   (`accuracy_short`/`_medium`/`_long`), so their means are result.py's table.
Where tbench differs (greedy decoding, empty answers) is in docs/longbench_v2.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

from ...errors import UsageError
from .. import task_family
from ..base import Generate, Sample, TaskFamily
from ..pieces import Encoder, canonical, encoder_for
from ..prompting import fit, fit_all
from ..records import DataFiles, load_records, require_fields

DATA = DataFiles(
    "longbench_v2", ("data.json", "data.parquet"), hub_repo="THUDM/LongBench-v2", hub_path="data.json",
    fetch="hf download THUDM/LongBench-v2 data.json --repo-type dataset --local-dir DATA/longbench_v2"
          " and pass --data-dir DATA")
#: the fields pred.py copies out of every record
FIELDS = ("_id", "domain", "sub_domain", "difficulty", "length", "question", "choice_A", "choice_B", "choice_C",
          "choice_D", "answer", "context")
METRICS = ("accuracy", "accuracy_easy", "accuracy_hard", "accuracy_short", "accuracy_medium", "accuracy_long")

_PARENTHESISED = re.compile(r"The correct answer is \(([A-D])\)")
_BARE = re.compile(r"The correct answer is ([A-D])")


def extract_answer(response: str) -> str | None:
    """The chosen letter: asterisks (markdown bold) dropped, then the first "The correct answer is (X)",
    else the first "The correct answer is X"; None when neither occurs."""
    response = response.replace("*", "")
    match = _PARENTHESISED.search(response) or _BARE.search(response)
    return match.group(1) if match else None


def scores(pred: str | None, answer: str, difficulty: str, length_class: str) -> dict[str, float]:
    """100 or 0 under `accuracy` and the sample's two classes, which result.py assigns as: easy, else
    hard; short, medium, else long."""
    value = 100.0 if pred == answer else 0.0
    level = "easy" if difficulty == "easy" else "hard"
    size = length_class if length_class in ("short", "medium") else "long"
    return {"accuracy": value, f"accuracy_{level}": value, f"accuracy_{size}": value}


def fill(template: str, record: dict[str, Any]) -> str:
    """pred.py's chained replacements: a placeholder that an earlier value brings in is replaced too."""
    text = template.replace("$DOC$", record["context"].strip()).replace("$Q$", record["question"].strip())
    for letter in "ABCD":
        text = text.replace(f"$C_{letter}$", record[f"choice_{letter}"].strip())
    return text


def load(data_dir: str | None) -> list[dict[str, Any]]:
    records = load_records(DATA, data_dir)
    require_fields(records, FIELDS, "LongBench v2 data.json")
    return records


@task_family("longbench_v2")
class LongBenchV2(TaskFamily):
    """Zero-shot: one generation per question."""

    version = "1"
    metrics = METRICS
    parameters = {"template": "text", "max_new_tokens": "count", "num_samples": "count", "chat_template": "bool"}

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        max_new = int(self.params["max_new_tokens"])
        if length - max_new < 2:
            raise UsageError(f"length {length} leaves no room for a prompt beside the {max_new}-token answer",
                             "use a longer --length")
        records = load(self.params.get("data_dir"))  # a missing file is an error now, not mid-run
        count = min(int(self.params.get("num_samples", len(records))), limit or len(records))
        return self._samples(encoder_for(tokenizer), records[:count], length - max_new)

    def _samples(self, enc: Encoder, records: list[dict[str, Any]], budget: int) -> Iterator[Sample]:
        chat = bool(self.params.get("chat_template", False))
        prompts = (fill(self.params["template"], record) for record in records)
        for record, fitted in zip(records, fit_all(enc, prompts, budget, chat=chat), strict=True):
            yield Sample(id=str(record["_id"]),
                         request=Generate(tuple(fitted.ids), int(self.params["max_new_tokens"])),
                         reference=record["answer"], prompt=enc.decode(fitted.ids),
                         truncated_tokens=fitted.truncated_tokens,
                         meta={"domain": record["domain"], "sub_domain": record["sub_domain"],
                               "difficulty": record["difficulty"], "length_class": record["length"],
                               "chat_template": fitted.chat_template, **self.extra_meta(record)})

    def extra_meta(self, record: dict[str, Any]) -> dict[str, Any]:
        return {}

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        return scores(extract_answer(output.strip()), sample.reference, sample.meta["difficulty"],
                      sample.meta["length_class"])


@task_family("longbench_v2.cot")
class LongBenchV2CoT(LongBenchV2):
    """Chain of thought in two rounds of batched generation: the reasoning for every question, then
    the answer to a prompt holding the question, the choices and that reasoning."""

    parameters = {**LongBenchV2.parameters, "answer_template": "text", "answer_max_new_tokens": "count"}

    def extra_meta(self, record: dict[str, Any]) -> dict[str, Any]:
        # filled now, while the record is at hand: the sample cache keeps it for the second round
        return {"answer_prompt": fill(self.params["answer_template"], record)}

    def evaluate(self, runner: Any, length: int, seed: int, limit: int | None,
                 progress: Callable[[int], None] | None = None) -> list[tuple[Sample, str, dict[str, float]]]:
        from ..cache import cached_samples

        halves = _Halves(progress)
        samples = cached_samples(self.name, self, runner.tokenizer, length, seed, limit)
        reasoning = [o.strip() for o in runner.run([s.request for s in samples], progress=halves)]
        enc = encoder_for(runner.tokenizer)
        answers = [self.answer_request(enc, s, r, length) for s, r in zip(samples, reasoning, strict=True)]
        outputs = runner.run([a.request for a in answers], progress=halves)
        triples = []
        for s, r, a, out in zip(samples, reasoning, answers, outputs, strict=True):
            meta = {k: v for k, v in s.meta.items() if k != "answer_prompt"}
            meta.update(response_cot=r, answer_prompt_tokens=a.prompt_tokens,
                        answer_truncated_tokens=a.truncated_tokens)
            done = replace(s, meta=meta)
            triples.append((done, out, self.score(done, out)))
        return triples

    def answer_request(self, enc: Encoder, sample: Sample, reasoning: str, length: int) -> Sample:
        """The second round's sample: the answer prompt with the reasoning in it, middle-truncated to the
        length minus the answer budget as pred.py truncates every query."""
        max_new = int(self.params["answer_max_new_tokens"])
        text = sample.meta["answer_prompt"].replace("$COT$", reasoning)
        fitted = fit(enc, text, length - max_new, chat=bool(self.params.get("chat_template", False)))
        answer = Sample(id=sample.id, request=Generate(tuple(fitted.ids), max_new), reference=sample.reference,
                        prompt=enc.decode(fitted.ids), truncated_tokens=fitted.truncated_tokens)
        return canonical(answer, enc, length)


class _Halves:
    """Progress in samples over two rounds: each finished request is half a sample."""

    def __init__(self, progress: Callable[[int], None] | None):
        self._progress = progress or (lambda n: None)
        self._requests = 0

    def __call__(self, n: int) -> None:
        before = self._requests // 2
        self._requests += n
        if self._requests // 2 > before:
            self._progress(self._requests // 2 - before)
