"""SCROLLS and ZeroSCROLLS examples, read from the files the benchmarks ship.

Both publish one zip per task on the hub (`tau/scrolls`, `tau/zero_scrolls`), `<task>.zip` holding
`<task>/train.jsonl` (SCROLLS only), `<task>/validation.jsonl` and `<task>/test.jsonl`, one JSON
object per line with `id`, `pid`, `input`, `output` (ZeroSCROLLS adds the character offsets of the
document and the query and its `truncation_seperator`). A question with several references is
several lines with the same `id`; the evaluators group them in first-seen order
(`drop_duplicates_in_input`), and so does `examples`. The test splits carry no public labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...errors import UsageError
from ..records import DataFiles, load_records, require_fields

SCROLLS_TASKS = ("gov_report", "summ_screen_fd", "qmsum", "qasper", "narrative_qa", "quality", "contract_nli")
ZERO_SCROLLS_TASKS = ("gov_report", "summ_screen_fd", "qmsum", "squality", "qasper", "narrative_qa", "quality",
                      "musique", "space_digest", "book_sum_sort")
SPLITS = ("validation", "test", "train")
_HUB = {"scrolls": "tau/scrolls", "zero_scrolls": "tau/zero_scrolls"}
ZERO_SCROLLS_FIELDS = ("id", "input", "output", "document_start_index", "document_end_index",
                       "query_start_index", "query_end_index", "truncation_seperator")


@dataclass(frozen=True)
class Example:
    id: str
    outputs: list[str]  # every reference, in file order
    record: dict[str, Any]  # the first line of the id: input and (ZeroSCROLLS) the offsets


def data_files(benchmark: str, task: str, split: str) -> DataFiles:
    member = f"{task}/{split}.jsonl"
    hub = _HUB[benchmark]
    return DataFiles(benchmark, (member, f"{task}.zip:{member}"), hub, f"{task}.zip:{member}",
                     f"hf download {hub} {task}.zip --repo-type dataset --local-dir DATA/{benchmark}"
                     f" and pass --data-dir DATA")


def examples(benchmark: str, task: str, split: str, data_dir: str | None,
             fields: tuple[str, ...] = ("id", "input", "output")) -> list[Example]:
    """The labelled examples of one task and split; a missing file or label is a UsageError now."""
    files = data_files(benchmark, task, split)
    records = load_records(files, data_dir)
    where = f"{benchmark} {task} {split}"
    require_fields(records, fields, where)
    grouped: dict[str, Example] = {}
    for r in records:
        key = str(r["id"])
        if key not in grouped:
            grouped[key] = Example(key, [], r)
        if r["output"] is not None:
            grouped[key].outputs.append(str(r["output"]))
    out = list(grouped.values())
    if not out:
        raise UsageError(f"{where}: the file holds no examples")
    unlabelled = next((e.id for e in out if not e.outputs), None)
    if unlabelled is not None:
        raise UsageError(f"{where}: example {unlabelled} has no reference output"
                         + (" (the test split's labels are not public)" if split == "test" else ""),
                         "score the validation split (the default)")
    return out
