"""lm-eval's logged samples → tbench (Sample, output, scores), the shape the executor writes as rows.

One triple per (doc, lm-eval filter). Scores are the per-doc metric values lm-eval logged, under
lm-eval's names (`acc`, `acc_norm`, `exact_match`, ...); a filter other than "none" is appended the
way lm-eval names it in its own results (`exact_match,strict-match`).

Corpus-level perplexities log a (loglikelihood, count) pair per doc, which has no per-doc value
to average. They become the additive parts instead — `loglikelihood` (summed log-prob of the doc),
`words`, `bytes` — so means over docs recover lm-eval's corpus figures exactly:
word_perplexity = exp(−mean(loglikelihood) / mean(words)), byte_perplexity likewise with bytes,
bits_per_byte = −mean(loglikelihood) / (mean(bytes)·ln 2). Other corpus-level metrics (bleu, chrf,
ter, ...) log no number per doc; they get no row and are named in the sample's meta.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import UsageError
from ..tasks.base import Request, Sample

#: perplexity metric → the name of the count its per-doc (loglikelihood, count) pair carries
PAIR_COUNTS = {"word_perplexity": "words", "byte_perplexity": "bytes", "bits_per_byte": "bytes"}

Sent = Mapping[tuple[str | None, int | None], tuple[Request, int]]


def triples(logged: Mapping[str, list[dict]], sent: Sent) -> Iterator[tuple[Sample, Any, dict[str, float]]]:
    """`logged` is simple_evaluate(...)["samples"]; `sent` maps (task, doc id) to the request the
    tbench LM sent for the doc's first Instance and the tokens cut from its left."""
    several = len(logged) > 1
    for task, docs in logged.items():
        for doc in docs:
            scores, corpus = per_doc_scores(doc)
            suffix = "" if doc["filter"] == "none" else f",{doc['filter']}"
            request, cut = sent[(task, doc["doc_id"])]
            meta = {"lm_eval_task": task, "filter": doc["filter"]}
            if corpus:
                meta["corpus_metrics"] = corpus
            prompt = str(doc["arguments"][0][0])
            sample = Sample(
                id=f"{task}/{doc['doc_id']}" if several else str(doc["doc_id"]),
                request=request,
                # a perplexity doc's target is its prompt: kept once, in the prompts sidecar
                reference=None if doc["target"] == prompt else doc["target"],
                prompt=prompt,
                truncated_tokens=cut,
                meta=meta,
            )
            yield sample, output_text(doc["filtered_resps"]), {f"{k}{suffix}": v for k, v in scores.items()}


def per_doc_scores(doc: Mapping[str, Any]) -> tuple[dict[str, float], list[str]]:
    """(numeric per-doc values, names of metrics that log no number per doc)."""
    scores: dict[str, float] = {}
    corpus: list[str] = []
    for name in doc["metrics"]:
        value = doc.get(name)
        if name in PAIR_COUNTS and isinstance(value, tuple | list) and len(value) == 2 and all(map(_number, value)):
            scores["loglikelihood"] = float(value[0])
            scores[PAIR_COUNTS[name]] = float(value[1])
        elif _number(value):
            scores[name] = float(value)
        else:
            corpus.append(name)
    return scores, corpus


def output_text(filtered: list[Any]) -> str:
    """The model's answer as text: the generation itself, else the responses as JSON
    (e.g. [[logprob, is_greedy], ...] per choice for multiple choice)."""
    if len(filtered) == 1 and isinstance(filtered[0], str):
        return filtered[0]
    return json.dumps(filtered, default=_plain)


def check_scored(task: str, rows: list[tuple[Sample, Any, dict[str, float]]]) -> None:
    if not any(scores for _, _, scores in rows):
        corpus = sorted({m for s, _, _ in rows for m in s.meta.get("corpus_metrics", [])})
        raise UsageError(f"lm-eval task '{task}' logs no per-doc number for any metric ({', '.join(corpus) or 'none'})",
                         "tbench rows need per-sample values; read this task's corpus score from lm-eval itself")


def _number(v: Any) -> bool:
    return isinstance(v, numbers.Real)  # bool, int, float and numpy scalars


def _plain(v: Any) -> Any:
    if isinstance(v, numbers.Real):
        return float(v)
    return str(v)
