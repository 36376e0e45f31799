"""SCROLLS (tau-nlp/scrolls): seven long-text tasks, prompted for decoder-only models.

SCROLLS is a fine-tuning benchmark: its `input` is "query\\n\\ndocument" (or the document alone for
GovReport and SummScreenFD) and its baselines are seq2seq models, so it has no prompt of its own.
tbench prompts as lm-evaluation-harness's scrolls task does (lm_eval/tasks/scrolls/task.py): the
query is the input up to its first blank line, the text the rest, and the task YAML's `template`
(lm-eval's doc_to_text, verbatim) puts the text first and the question last; generation stops at
the first newline as lm-eval's `until: ["\\n"]`. lm-eval scores QuALITY and ContractNLI by the
log-likelihood of each option; tbench generates and scores exact match against the option text as
SCROLLS' own evaluator does, so QuALITY's options stay in the text where the dataset puts them.
A prompt longer than the length loses the end of its text (see fitting.py). Metrics: scrolls.py's
DATASET_TO_METRICS (ROUGE for the summaries, F1 for the free-form QA, exact match for QuALITY and
ContractNLI), per sample on the 0–100 scale.
"""

from __future__ import annotations

from typing import ClassVar

from ...errors import UsageError
from .. import task_family
from . import metrics as m
from .data import SCROLLS_TASKS, SPLITS, Example
from .family import ROUGE_METRICS, LongTextTask, Scorer, rouge_scores, single

#: the tasks whose input prepends a query (lm-eval's _process_doc_prepended_question)
WITH_QUERY = ("qmsum", "qasper", "narrative_qa", "quality", "contract_nli")
DOCUMENT_FIELDS = ("{text}", "{input}")


@task_family("scrolls")
class Scrolls(LongTextTask):
    version = "1"
    benchmark = "scrolls"
    datasets = SCROLLS_TASKS
    scoring: ClassVar[dict[str, tuple[tuple[str, ...], Scorer]]] = {
        **{d: (ROUGE_METRICS, rouge_scores) for d in ("gov_report", "summ_screen_fd", "qmsum")},
        **{d: (("f1",), single("f1", m.f1)) for d in ("qasper", "narrative_qa")},
        **{d: (("exact_match",), single("exact_match", m.exact_match)) for d in ("quality", "contract_nli")},
    }
    metrics = (*ROUGE_METRICS, "f1", "exact_match")
    parameters: ClassVar[dict] = {"dataset": SCROLLS_TASKS, "split": SPLITS, "template": "text",
                                  "max_new_tokens": "count", "stop": "texts", "chat_template": "bool"}

    def check(self, ex: Example) -> None:
        if self.dataset in WITH_QUERY and "\n\n" not in str(ex.record["input"]):
            raise UsageError(f"scrolls {self.dataset}: example {ex.id} has no blank line between query and text",
                             "is it the original SCROLLS file of this task?")

    def parts(self, ex: Example, chat: bool) -> tuple[str, str, str]:
        source = str(ex.record["input"])
        question, text = "", source
        if self.dataset in WITH_QUERY:
            cut = source.find("\n\n")
            question, text = source[:cut], source[cut + 2:]
        template = str(self.params["template"])
        fields = [f for f in DOCUMENT_FIELDS if f in template]
        if len(fields) != 1 or template.count(fields[0]) != 1:
            raise UsageError(f"scrolls {self.dataset}: the template must hold the document once, as {{text}} "
                             "or {input}")
        head, tail = template.split(fields[0])
        document = text if fields[0] == "{text}" else source
        return head.replace("{question}", question) + document, tail.replace("{question}", question), ""
