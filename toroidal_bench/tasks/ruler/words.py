"""Random keys and values as RULER draws them, from a caller's seeded `random.Random`.

Word lists come from the installed `wonderwords` package, as in RULER (its version decides the
lists; see docs/tasks.md). "words" keys are adjective-noun pairs; RULER picks uniformly from the
sorted set of all pairs, we pick the adjective and the noun independently (the same distribution up
to the rare pair spelled identically from two different splits), which avoids building ~6 M strings.
"""

from __future__ import annotations

import random
import uuid
from functools import cache

from ...errors import UsageError


@cache
def wonderwords_list(name: str) -> tuple[str, ...]:
    """`nounlist.txt`, `adjectivelist.txt` or `verblist.txt` of wonderwords, as RULER reads them."""
    try:
        from wonderwords import random_word
    except ImportError:
        raise UsageError("RULER word keys need the 'wonderwords' package", "run: pip install wonderwords") from None
    return tuple(random_word._get_words_from_text_file(name))


def random_number(rng: random.Random, digits: int = 7) -> str:
    return str(rng.randint(10 ** (digits - 1), 10**digits - 1))


def random_word(rng: random.Random) -> str:
    return f"{rng.choice(wonderwords_list('adjectivelist.txt'))}-{rng.choice(wonderwords_list('nounlist.txt'))}"


def random_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def random_value(rng: random.Random, kind: str) -> str:
    if kind == "numbers":
        return random_number(rng)
    if kind == "words":
        return random_word(rng)
    if kind == "uuids":
        return random_uuid(rng)
    raise UsageError(f"unknown RULER needle type '{kind}'", "valid: numbers, words, uuids")
