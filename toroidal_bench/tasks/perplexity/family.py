"""The `perplexity` task family: one sample per document, scored by a protocol at the cell's length.

Parameters (task YAML, suite `params`, or `--param key=value`):
  source      wikitext2 | wikitext103 | pg19 | shakespeare | file | periodic (sources.py)
  protocol    disjoint | sliding | at-length (protocols.py); default disjoint
  stride      sliding / at-length: tokens between window starts (default L/2, at-length 256)
  min_tokens  skip documents with fewer tokens (at-length: at least L, always)
  max_tokens  cut documents to their first max_tokens tokens (at-length: ≥ L)
  positions   also write NLL by position (default true)
  data_file   source file: a .txt, a folder of .txt, a .jsonl with `text` (`--data-file`)
  kind, period, levels, num_samples   source periodic: the generators of the `periodic` family;
              each sample is exactly L tokens

Documents are tokenized without special tokens; the runner puts the prefix token (BOS, else EOS)
before each document, so a tokenizer that adds BOS does not score a second one. The word and byte
figures (`word_perplexity`, `byte_perplexity`, `bits_per_byte`) come with text sources under the
disjoint and sliding protocols, where every token of the whole document is scored.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from ...errors import UsageError
from .. import task_family
from ..base import Sample, TaskFamily, encode
from ..periodic import candidate_ids, periodic_tokens, sinusoid_tokens
from . import protocols, scoring, sources

_SOURCES = (*sources.TEXT_SOURCES, "periodic")
_COUNTS = ("nll", "tokens", "perplexity")
_TEXT_FIGURES = ("words", "bytes", "word_perplexity", "byte_perplexity", "bits_per_byte")


@task_family("perplexity")
class Perplexity(TaskFamily):
    version = "1"
    metrics = (*_COUNTS, *_TEXT_FIGURES, "nll_per_token")  # the most any configuration writes
    #: what the catalog checks parameters against (tasks/catalog.py kinds)
    parameters = {
        "source": _SOURCES, "protocol": protocols.PROTOCOLS, "stride": "count", "min_tokens": "count",
        "max_tokens": "count", "positions": "bool", "data_file": "text",
        "kind": ("tokens", "sinusoid"), "period": "positive", "levels": "count", "num_samples": "count",
    }

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        p = self.params
        source = p.get("source", "file")
        if p.get("data_file") and source != "file":
            raise UsageError(f"--data-file scores your own text, but this task reads source '{source}'",
                             "run the task 'perplexity' with --data-file")
        win = protocols.windows(p.get("protocol", "disjoint"), length, p.get("stride"), p.get("min_tokens"),
                                p.get("max_tokens"))
        docs = (self._periodic(tokenizer, length, seed) if source == "periodic"
                else self._text(tokenizer, source))
        made = 0
        for doc_id, tokens, text, counts in docs:
            if len(tokens) < win.min_tokens:
                continue
            request, cut = win.request(tokens)
            meta = {"source": source, "protocol": win.protocol, "length": length, "stride": win.stride,
                    "positions": bool(p.get("positions", True))}
            if counts is not None and win.protocol != "at-length" and cut == 0:
                meta.update(words=counts[0], bytes=counts[1])
            yield Sample(id=doc_id, request=request, reference=None, prompt=text, truncated_tokens=cut, meta=meta)
            made += 1
            if limit is not None and made >= limit:
                return
        if made == 0:
            raise UsageError(f"no document of source '{source}' has the {win.min_tokens} tokens protocol "
                             f"{win.protocol} needs at length {length}", "use a shorter --length or longer texts")

    def score(self, sample: Sample, output: Any) -> dict:
        lp = np.asarray(output.logprobs)
        meta = sample.meta
        scores: dict = scoring.document_scores(lp, meta.get("words"), meta.get("bytes"))
        if meta.get("positions", True):
            scores.update(scoring.position_scores(lp, meta["length"] - 1))
        return scores

    # -- documents as (id, token ids, text, (words, bytes) or None) ---------------------------------
    def _text(self, tokenizer: Any, source: str) -> Iterator[tuple]:
        for doc in sources.documents(source, self.params):
            tokens = encode(tokenizer, doc.text)
            if tokens:  # an empty page has nothing to score
                yield doc.id, tokens, doc.text, (doc.words, doc.bytes)

    def _periodic(self, tokenizer: Any, length: int, seed: int) -> Iterator[tuple]:
        p = self.params
        kind, period = p.get("kind", "tokens"), p.get("period", 32)
        ids = candidate_ids(tokenizer)
        for index in range(int(p.get("num_samples", 8))):
            rng = random.Random(f"perplexity|periodic|{kind}|{period}|{seed}|{length}|{index}")
            if kind == "tokens":
                tokens = periodic_tokens(rng, ids, int(period), length)
            else:
                tokens = sinusoid_tokens(rng, ids, float(period), int(p.get("levels", 16)), length)
            yield f"{length}-{index}", tokens, tokenizer.decode(tokens), None
