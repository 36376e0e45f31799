"""InfiniteBench's eight real-data tasks, run from the original JSONL files.

En.Sum, En.QA, En.MC, En.Dia, Zh.QA, Code.Debug, Code.Run and Math.Calc as OpenBMB/InfiniteBench
src/eval_yarn_mistral.py runs them: create_prompt fills the task's `yarn_mistral` template with the
record (src/prompt.py; the template sits verbatim in the task YAML), the whole prompt is tokenized
and, when too long, cut in the middle (truncate_by_tokens: first and last halves of the tokens), the
model generates greedily up to DATA_NAME_TO_MAX_NEW_TOKENS tokens, and get_score_one scores it.
Lengths follow tbench: prompt (BOS or chat frame included) + answer budget ≤ --length, so the
prompt is cut to length − max_new_tokens (the original cuts to 128K and adds the budget on top).
Samples are the file's records in file order, `limit` the first ones; the seed plays no part.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from ...errors import UsageError
from .. import task_family
from ..base import Generate, Sample, TaskFamily
from ..pieces import Encoder, encoder_for
from ..prompting import fit, fit_all
from ..records import DataFiles, load_records, require_fields
from . import record as rec
from . import scoring

HUB_REPO = "xinrongzhang2022/InfiniteBench"


def data_files(data_name: str) -> DataFiles:
    """Where `<data_name>.jsonl` is looked for: --data-dir/infinitebench/, --data-dir/, the hub copy."""
    file = f"{data_name}.jsonl"
    return DataFiles("infinitebench", (file,), HUB_REPO, file,
                     fetch=f"hf download {HUB_REPO} {file} --repo-type dataset --local-dir DATA/infinitebench "
                           "and pass --data-dir DATA")


class RealDataTask(TaskFamily):
    """One InfiniteBench task file: subclasses give the template fields, the label and the scorer."""

    data_name: ClassVar[str] = ""
    required: ClassVar[tuple[str, ...]] = ("context", "answer")  # the fields create_prompt/get_answer read
    version = "1"
    parameters: ClassVar[dict[str, Any]] = {"template": "text", "max_new_tokens": "count", "chat_template": "bool"}

    @property
    def where(self) -> str:
        return f"{self.data_name}.jsonl"

    def fields(self, record: dict[str, Any]) -> dict[str, str]:
        """The template fields of create_prompt for this record."""
        return {"context": str(record["context"])}

    def label(self, record: dict[str, Any]) -> Any:
        """The original's ground truth for this record (JSON-serialisable)."""
        return rec.texts(record, self.where)

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        # everything that can be wrong with the data or the length raises here, before a sample is asked for
        records = load_records(data_files(self.data_name), self.params.get("data_dir"), limit)
        require_fields(records, self.required, self.where)
        chosen = list(enumerate(records))
        enc = encoder_for(tokenizer)
        max_new = int(self.params["max_new_tokens"])
        chat = bool(self.params.get("chat_template", False))
        if length - max_new < len(enc.prefix) + 2:
            raise UsageError(f"length {length} is too short for task family '{self.name}': its answer budget "
                             f"alone is {max_new} tokens",
                             f"use a --length above {max_new}, or a smaller budget (-p max_new_tokens=N)")
        fit(enc, "", length - max_new, chat=chat)  # a missing chat template, no room inside its frame
        # the record's own id, else its line (the construction script of Math.Calc writes none)
        prepared = [(str(r.get("id", i)), self.fields(r), self.label(r)) for i, r in chosen]
        return self._samples(enc, prepared, length - max_new, max_new, chat)

    def _samples(self, enc: Encoder, prepared: list, budget: int, max_new: int, chat: bool) -> Iterator[Sample]:
        prompts = (rec.fill(self.params["template"], fields) for _, fields, _ in prepared)
        for (ident, _, label), fitted in zip(prepared, fit_all(enc, prompts, budget, chat=chat), strict=True):
            yield Sample(id=ident, request=Generate(tuple(fitted.ids), max_new_tokens=max_new),
                         reference=label, prompt=enc.decode(fitted.ids), truncated_tokens=fitted.truncated_tokens,
                         meta={"chat_template": fitted.chat_template})


class _Book(RealDataTask):
    required = ("context", "input", "answer")

    def fields(self, record: dict[str, Any]) -> dict[str, str]:
        return {"context": str(record["context"]), "question": str(record["input"])}


@task_family("infinitebench.longbook_sum_eng")
class LongbookSumEng(RealDataTask):
    """En.Sum: summarise a novel; ROUGE-Lsum F1 against the reference summary."""

    data_name = "longbook_sum_eng"
    metrics = ("rougeLsum",)

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        return {"rougeLsum": scoring.rouge_lsum(output, sample.reference)}


@task_family("infinitebench.longbook_qa_eng")
class LongbookQaEng(_Book):
    """En.QA: free-form question on a novel; token F1, best over the references."""

    data_name = "longbook_qa_eng"
    metrics = ("qa_f1",)

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        return {"qa_f1": scoring.qa_f1(output, sample.reference)}


@task_family("infinitebench.longbook_qa_chn")
class LongbookQaChn(_Book):
    """Zh.QA: free-form question on a Chinese novel; character F1, best over the references."""

    data_name = "longbook_qa_chn"
    metrics = ("qa_f1_zh_char",)

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        return {"qa_f1_zh_char": scoring.qa_f1_zh_char(output, sample.reference)}


@task_family("infinitebench.longbook_choice_eng")
class LongbookChoiceEng(_Book):
    """En.MC: four-option question on a novel; the option letter or text must be the gold one."""

    data_name = "longbook_choice_eng"
    metrics = ("accuracy",)

    def fields(self, record: dict[str, Any]) -> dict[str, str]:
        return {**super().fields(record), **rec.options(record, self.where)}

    def label(self, record: dict[str, Any]) -> list[str]:
        return rec.choice_label(record, self.where)

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        return {"accuracy": float(scoring.choice_correct(output, sample.reference))}


@task_family("infinitebench.longdialogue_qa_eng")
class LongdialogueQaEng(RealDataTask):
    """En.Dia: name the character hidden as $$MASK$$ in a script; the first reference name must be a word."""

    data_name = "longdialogue_qa_eng"
    metrics = ("accuracy",)

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        return {"accuracy": float(scoring.dialogue_correct(output, sample.reference))}


@task_family("infinitebench.code_debug")
class CodeDebug(RealDataTask):
    """Code.Debug: which of four functions of a repository holds the deliberate error."""

    data_name = "code_debug"
    metrics = ("accuracy",)

    def fields(self, record: dict[str, Any]) -> dict[str, str]:
        return {**super().fields(record), **rec.options(record, self.where)}

    def label(self, record: dict[str, Any]) -> list[str]:
        return rec.choice_label(record, self.where)

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        return {"accuracy": float(scoring.code_debug_correct(output, sample.reference))}


@task_family("infinitebench.code_run")
class CodeRun(RealDataTask):
    """Code.Run: the return value of a call into a long chain of generated functions."""

    data_name = "code_run"
    required = ("context", "input", "answer")
    metrics = ("accuracy",)

    def fields(self, record: dict[str, Any]) -> dict[str, str]:
        return {**super().fields(record), **rec.func_call(record, self.where)}

    def label(self, record: dict[str, Any]) -> list[int]:
        return rec.code_run_label(record, self.where)

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        return {"accuracy": float(scoring.code_run_correct(output, sample.reference))}


@task_family("infinitebench.math_calc")
class MathCalc(RealDataTask):
    """Math.Calc: every intermediate value of a long +/- expression; the share matched from the start."""

    data_name = "math_calc"
    metrics = ("prefix_accuracy",)

    def label(self, record: dict[str, Any]) -> list[int]:
        return rec.math_calc_label(record, self.where)

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        return {"prefix_accuracy": scoring.math_calc_prefix(output, sample.reference)}
