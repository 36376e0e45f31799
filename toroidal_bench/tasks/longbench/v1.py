"""LongBench v1 (21 datasets) and LongBench-E (13 of them, spread over lengths), read from THUDM's files.

Faithful to THUDM/LongBench @2e00731, LongBench/pred.py and eval.py:
 - the prompt is the dataset's template (config/dataset2prompt.json, in each task's YAML) filled with
   the record's `context` and `input`; the answer budget is config/dataset2maxlen.json's;
 - a prompt longer than the length budget keeps its first and last halves of tokens (middle truncation);
 - with `chat_template` the prompt is wrapped in the tokenizer's chat template after truncation, except
   for the six datasets pred.py never wraps (few-shot and code: the raw prompt suits them better);
 - greedy generation; the score is eval.py's: the first line of the prediction for the four few-shot
   datasets, the dataset's metric (dataset2metric) maximised over the record's answers, × 100, so the
   mean over samples is the number LongBench reports;
 - samsum: pred.py ends generation at the first "\n" token but never at the first new token
   (min_length); a stop string would cut a leading newline to an empty answer, so samsum generates its
   whole budget and the first-line cut does the stopping (docs/longbench.md says where that differs);
 - LongBench-E rows also carry the record's length bucket (eval.py's scorer_e: the `length` field
   < 4000, < 8000, else 8k+) and the same value under `<metric>_<bucket>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ...errors import UsageError
from .. import task_family
from ..base import Generate, Sample, TaskFamily
from ..pieces import Encoder, encoder_for
from ..prompting import chat_frame, fit_all
from ..records import DataFiles, load_records, require_fields
from .metrics import METRICS

# eval.py's dataset2metric: the metric of each dataset, by its original function name
DATASET_METRIC = {
    "narrativeqa": "qa_f1_score", "qasper": "qa_f1_score", "multifieldqa_en": "qa_f1_score",
    "multifieldqa_zh": "qa_f1_zh_score", "hotpotqa": "qa_f1_score", "2wikimqa": "qa_f1_score",
    "musique": "qa_f1_score", "dureader": "rouge_zh_score", "gov_report": "rouge_score",
    "qmsum": "rouge_score", "multi_news": "rouge_score", "vcsum": "rouge_zh_score",
    "trec": "classification_score", "triviaqa": "qa_f1_score", "samsum": "rouge_score",
    "lsht": "classification_score", "passage_count": "count_score", "passage_retrieval_en": "retrieval_score",
    "passage_retrieval_zh": "retrieval_zh_score", "lcc": "code_sim_score", "repobench-p": "code_sim_score",
}
# pred.py's `--e` list
E_DATASETS = ("qasper", "multifieldqa_en", "hotpotqa", "2wikimqa", "gov_report", "multi_news", "trec",
              "triviaqa", "samsum", "passage_count", "passage_retrieval_en", "lcc", "repobench-p")
# pred.py: chat models take these prompts raw; eval.py: their predictions are cut to the first line
RAW_PROMPT = frozenset({"trec", "triviaqa", "samsum", "lsht", "lcc", "repobench-p"})
FIRST_LINE = frozenset({"trec", "triviaqa", "samsum", "lsht"})
# scorer_e's length buckets, by the record's `length` field (words, or characters for Chinese)
BUCKETS = ((4000, "0-4k"), (8000, "4-8k"), (None, "8k+"))
FIELDS = ("input", "context", "answers", "length", "all_classes", "_id")
HUB_REPO = "THUDM/LongBench"
FETCH = f"hf download {HUB_REPO} data.zip --repo-type dataset --local-dir DATA/longbench and pass --data-dir DATA"


def bucket(length: int) -> str:
    return next(name for bound, name in BUCKETS if bound is None or length < bound)


def first_line(prediction: str) -> str:
    return prediction.lstrip("\n").split("\n")[0]


def data_files(file_stem: str) -> DataFiles:
    """Where `<file_stem>.jsonl` lies: unpacked from data.zip, flat, or still in the archive."""
    member = f"data/{file_stem}.jsonl"
    return DataFiles("longbench", (member, f"{file_stem}.jsonl", f"data.zip:{member}"),
                     hub_repo=HUB_REPO, hub_path=f"data.zip:{member}", fetch=FETCH)


@task_family("longbench")
class LongBench(TaskFamily):
    parameters = {"dataset": tuple(DATASET_METRIC), "template": "text", "max_new_tokens": "count",
                  "chat_template": "bool"}
    #: every metric a LongBench task may return; an instance narrows it to its dataset's
    metrics = tuple(dict.fromkeys(DATASET_METRIC.values()))

    def __init__(self, **params: Any):
        super().__init__(**params)
        if self.dataset in DATASET_METRIC:
            self.metrics = (self.metric,)

    @property
    def dataset(self) -> str:
        return str(self.params.get("dataset", ""))

    @property
    def metric(self) -> str:
        return DATASET_METRIC[self.dataset]

    def file_stem(self) -> str:
        return self.dataset

    def records(self, limit: int | None = None) -> list[dict[str, Any]]:
        if self.dataset not in type(self).parameters["dataset"]:
            raise UsageError(f"task family '{self.name}' needs the parameter dataset",
                             f"one of {', '.join(type(self).parameters['dataset'])}")
        files = data_files(self.file_stem())
        records = load_records(files, self.params.get("data_dir"), limit)
        require_fields(records, FIELDS, files.describe())
        return records

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        records = self.records(limit)  # read now: missing data is an error before any sample
        enc = encoder_for(tokenizer)
        chat = bool(self.params.get("chat_template")) and self.dataset not in RAW_PROMPT
        budget = length - int(self.params["max_new_tokens"])
        frame = sum(map(len, chat_frame(tokenizer))) if chat else len(enc.prefix)
        if budget - frame < 2:
            raise UsageError(f"length {length} leaves no room for a LongBench {self.dataset} prompt "
                             f"({self.params['max_new_tokens']} answer tokens, {frame} of prompt frame)",
                             "use a longer --length")
        return self._samples(records, enc, budget, chat)

    def _samples(self, records: list[dict[str, Any]], enc: Encoder, budget: int, chat: bool) -> Iterator[Sample]:
        prompts = (self.prompt(record) for record in records)
        for record, fitted in zip(records, fit_all(enc, prompts, budget, chat=chat), strict=True):
            yield Sample(id=str(record["_id"]),
                         request=Generate(tuple(fitted.ids), int(self.params["max_new_tokens"])),
                         reference=[str(a) for a in record["answers"]],  # the hub's features are strings
                         prompt=enc.decode(fitted.ids), truncated_tokens=fitted.truncated_tokens,
                         meta=self.meta(record, fitted.chat_template))

    def prompt(self, record: dict[str, Any]) -> str:
        return self.params["template"].format(context=record["context"], input=record["input"])

    def meta(self, record: dict[str, Any], chat: bool) -> dict[str, Any]:
        meta = {"dataset": self.dataset, "language": record.get("language"), "length": record["length"],
                "chat_template": chat}
        if record["all_classes"] is not None:
            meta["all_classes"] = list(record["all_classes"])
        return meta

    def best(self, sample: Sample, output: str) -> float:
        """eval.py's per-sample score: 100 × the best of the metric over the answers (0 with none)."""
        prediction = first_line(output) if self.dataset in FIRST_LINE else output
        score, metric = 0.0, METRICS[self.metric]
        for answer in sample.reference:
            score = max(score, metric(prediction, answer, all_classes=sample.meta.get("all_classes")))
        return 100.0 * score

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        return {self.metric: self.best(sample, output)}


@task_family("longbench_e")
class LongBenchE(LongBench):
    parameters = {**LongBench.parameters, "dataset": E_DATASETS}
    metrics = tuple(f"{m}{suffix}" for m in dict.fromkeys(DATASET_METRIC[d] for d in E_DATASETS)
                    for suffix in ("", *(f"_{name}" for _, name in BUCKETS)))

    def __init__(self, **params: Any):
        super().__init__(**params)
        if self.dataset in E_DATASETS:
            self.metrics = (self.metric, *(f"{self.metric}_{name}" for _, name in BUCKETS))

    def file_stem(self) -> str:
        return f"{self.dataset}_e"

    def meta(self, record: dict[str, Any], chat: bool) -> dict[str, Any]:
        return {**super().meta(record, chat), "length_bucket": bucket(int(record["length"]))}

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        value = self.best(sample, output)
        return {self.metric: value, f"{self.metric}_{sample.meta['length_bucket']}": value}
