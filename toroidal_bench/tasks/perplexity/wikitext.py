"""WikiText as lm-evaluation-harness scores it: whole Wikipedia pages, detokenized.

Pages: the raw test file (`wiki.test.raw` of the WikiText raw archives) cut before every top-level
heading — a line that reads ` = Title = ` once the heading markers of deeper levels (`= = =`, `= =`)
are collapsed — which is how the `EleutherAI/wikitext_document_level` dataset (the one lm-eval's
`wikitext` task loads) was built: a page holds its heading line and every line up to the next one,
joined by newlines; pages with only whitespace are dropped, except the last.

Scored text: `detokenize(page)`, the inverse of WikiText's tokenization that lm-eval applies
(`wikitext_detokenizer`). Word and byte counts come from the page *before* detokenizing, as in
lm-eval's `process_results`.
"""

from __future__ import annotations

import re

_HEADING_LEVELS = (("= = =", "==="), ("= =", "=="))


def _is_page_start(line: str) -> bool:
    collapsed = line
    for spaced, joined in _HEADING_LEVELS:
        collapsed = collapsed.replace(spaced, joined)
    collapsed = collapsed.strip()
    return collapsed.startswith("= ") and collapsed.endswith(" =")


def split_pages(raw: str) -> list[str]:
    """The pages of a raw WikiText file, in file order."""
    pages: list[str] = []
    current: list[str] = []
    for line in raw.split("\n"):
        if _is_page_start(line):
            page = "\n".join(current)
            if page.strip():
                pages.append(page)
            current = []
        current.append(line)
    pages.append("\n".join(current))
    return pages


# (pattern, replacement) in the order lm-eval applies them; plain strings are literal replacements
_LITERAL, _REGEX = "literal", "regex"
_DETOKENIZE: tuple[tuple[str, str, str], ...] = (
    (_LITERAL, "s '", "s'"),  # possessive plurals
    (_REGEX, r"/' [0-9]/", r"/'[0-9]/"),
    (_LITERAL, " @-@ ", "-"),  # number separators
    (_LITERAL, " @,@ ", ","),
    (_LITERAL, " @.@ ", "."),
    (_LITERAL, " : ", ": "),  # punctuation
    (_LITERAL, " ; ", "; "),
    (_LITERAL, " . ", ". "),
    (_LITERAL, " ! ", "! "),
    (_LITERAL, " ? ", "? "),
    (_LITERAL, " , ", ", "),
    (_REGEX, r"\(\s*([^\)]*?)\s*\)", r"(\1)"),  # brackets and quotes hug their contents
    (_REGEX, r"\[\s*([^\]]*?)\s*\]", r"[\1]"),
    (_REGEX, r"{\s*([^}]*?)\s*}", r"{\1}"),
    (_REGEX, r"\"\s*([^\"]*?)\s*\"", r'"\1"'),
    (_REGEX, r"'\s*([^']*?)\s*'", r"'\1'"),
    (_LITERAL, "= = = =", "===="),  # headings
    (_LITERAL, "= = =", "==="),
    (_LITERAL, "= =", "=="),
    (_LITERAL, " \u00b0 ", "\u00b0"),  # degree sign
    (_LITERAL, " \n", "\n"),
    (_LITERAL, "\n ", "\n"),
    (_LITERAL, " N ", " 1 "),
    (_LITERAL, " 's", "'s"),
)


def detokenize(page: str) -> str:
    """The page as lm-eval's `wikitext` task scores it."""
    text = page
    for kind, pattern, replacement in _DETOKENIZE:
        text = text.replace(pattern, replacement) if kind == _LITERAL else re.sub(pattern, replacement, text)
    return text
