"""Perplexity as a task family: documents from built-in corpora or one's own files, scored by the
protocols long-context papers use, with NLL by position.

  sources.py    where documents come from (WikiText, PG-19, Shakespeare, local files)
  wikitext.py   WikiText pages and lm-eval's detokenizer
  protocols.py  disjoint (lm-eval), sliding (transformers' guide), at-length (PI / YaRN tables)
  scoring.py    per-document figures and NLL by position
  family.py     the `perplexity` family that ties them together
"""

from .family import Perplexity
from .protocols import PROTOCOLS, Windows, windows
from .scoring import position_buckets

__all__ = ["PROTOCOLS", "Perplexity", "Windows", "position_buckets", "windows"]
