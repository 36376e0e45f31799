"""ZeroSCROLLS (tau-nlp/zero_scrolls): ten zero-shot long-text tasks, prompted by the data itself.

Each `input` is the benchmark's canonical prompt: instruction, document, query and response header
("Summary:", "Answer:", ...), with the character offsets of the document and the query. It is
given to the model as it is (experiments/hf/run_hf_model.py); too long, it loses the end of its
document, and `truncation_seperator` marks the cut before the query (process_model_input, see
fitting.py). With `chat_template` the prompt is adapted as experiments/api/openai_api.py does for
chat models: the response header is dropped (`input[:query_end_index]`), the question-answering and
aggregation tasks get the task YAML's `format_request` ("Do not provide any explanation.") after
the instruction (api.py insert_format_request), and the result is one user turn of the tokenizer's
chat template. Generation budgets: api.py dataset_to_leave_tokens_for_generations. Metrics: the
official ZeroSCROLLS functions (F1 with unidecode, accuracy, exponential similarity, concordance
index) and, for the four summarisation tasks, SCROLLS' ROUGE (see docs/scrolls.md).
"""

from __future__ import annotations

from typing import ClassVar

from ...errors import UsageError
from .. import task_family
from . import metrics as m
from .data import SPLITS, ZERO_SCROLLS_FIELDS, ZERO_SCROLLS_TASKS, Example
from .family import ROUGE_METRICS, LongTextTask, Scorer, rouge_scores, single

_OFFSETS = ("document_start_index", "document_end_index", "query_start_index", "query_end_index")


@task_family("zero_scrolls")
class ZeroScrolls(LongTextTask):
    version = "1"
    benchmark = "zero_scrolls"
    datasets = ZERO_SCROLLS_TASKS
    fields = ZERO_SCROLLS_FIELDS
    scoring: ClassVar[dict[str, tuple[tuple[str, ...], Scorer]]] = {
        **{d: (ROUGE_METRICS, rouge_scores) for d in ("gov_report", "summ_screen_fd", "qmsum", "squality")},
        **{d: (("f1",), single("f1", m.f1_ascii)) for d in ("qasper", "narrative_qa", "musique")},
        "quality": (("accuracy",), single("accuracy", m.accuracy)),
        "space_digest": (("exp_similarity",), single("exp_similarity", m.exp_similarity)),
        "book_sum_sort": (("concordance_index",), single("concordance_index", m.concordance_index)),
    }
    metrics = (*ROUGE_METRICS, "f1", "accuracy", "exp_similarity", "concordance_index")
    parameters: ClassVar[dict] = {"dataset": ZERO_SCROLLS_TASKS, "split": SPLITS, "max_new_tokens": "count",
                                  "chat_template": "bool", "format_request": "text"}

    def check(self, ex: Example) -> None:
        r = ex.record
        n = len(str(r["input"]))
        if not all(isinstance(r[k], int) and 0 <= r[k] <= n for k in _OFFSETS) \
                or not r["query_start_index"] <= r["query_end_index"]:
            raise UsageError(f"zero_scrolls {self.dataset}: example {ex.id} has offsets outside its input",
                             "is it the original ZeroSCROLLS file of this task?")
        if self.dataset == "quality" and any(m.option_letter(o) is None for o in ex.outputs):
            raise UsageError(f"zero_scrolls quality: example {ex.id} has a reference without an option letter A-D")

    def parts(self, ex: Example, chat: bool) -> tuple[str, str, str]:
        r = ex.record
        text, query_start, query_end = str(r["input"]), r["query_start_index"], r["query_end_index"]
        if chat:
            request = self.params.get("format_request")
            if request:  # insert_format_request: the offsets move by the request and a space
                cut = text.find("\n\n")
                text = f"{text[:cut].strip()} {request}{text[cut:]}"
                query_start, query_end = query_start + len(request) + 1, query_end + len(request) + 1
            text = text[:query_end]  # a chat turn needs no response header
        return text[:query_start], text[query_start:], str(r["truncation_seperator"])
