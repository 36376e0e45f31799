"""Domain errors. Each maps to one exit code at the CLI edge (see cli/errors.py)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TbenchError(Exception):
    """Base of every error tbench reports to a user as one line."""

    exit_code = 2

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.fix = fix

    def line(self) -> str:
        msg = str(self)
        return f"{msg} — {self.fix}" if self.fix else msg


class UsageError(TbenchError):
    """Bad input: unknown name, malformed spec or YAML, unreadable or unwritable file."""


class SpecError(UsageError):
    """A model/encoding spec string that does not parse or does not validate."""


class UnknownNameError(UsageError):
    """A registry lookup that found nothing; carries a 'did you mean' suggestion."""

    def __init__(self, kind: str, name: str, choices: Iterable[str]):
        choices = sorted(choices)
        close = difflib.get_close_matches(name, choices, n=1)
        hint = f"did you mean '{close[0]}'?" if close else None
        listing = ", ".join(choices) if choices else "(none)"
        fix = f"{hint} Valid {kind}s: {listing}" if hint else f"valid {kind}s: {listing}"
        super().__init__(f"unknown {kind} '{name}'", fix)
        self.name = name
        self.choices = choices


class ModelLoadError(UsageError):
    """A model that cannot be loaded (missing weights offline, unsupported architecture)."""


class ResultsError(UsageError):
    """A results file that is missing, corrupt or does not follow the schema."""


class GateFailure(TbenchError):
    """At least one gate failed (exit 1)."""

    exit_code = 1


class CellsFailed(TbenchError):
    """A run finished, but some cells recorded errors (exit 3)."""

    exit_code = 3


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return close[0] if close else None
