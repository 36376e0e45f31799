"""InfiniteBench's JSONL records as src/eval_utils.py reads them: the prompt fields of create_prompt,
the label of get_answer, and the files' native answer types.

A record holds `id`, `context`, `input`, `answer` and `options`. create_prompt fills the task's
template with str.format: {context} and {question} (the record's `input`) for the book tasks, the
four options as {OPTION_A}..{OPTION_D} for En.MC and Code.Debug, and for Code.Run the first
`func_<n>(<int>)` call of `input` as {func_call} and its name as {func}. get_answer turns the
answer of En.MC and Code.Debug into [option text, letter]. Copies loaded through `datasets` with
forced string features hold "4" for Code.Run's 4 and strings in Math.Calc's lists: those are read
back as ints, as the original files have them.
"""

from __future__ import annotations

import re
from typing import Any

from ...errors import UsageError

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_FUNC_CALL = re.compile(r"func_[0-9]+\(\-?[0-9]+\)")
LETTERS = "ABCD"


def _which(record: dict[str, Any]) -> str:
    return f"id {record['id']}" if "id" in record else "without id"


def fill(template: str, fields: dict[str, str]) -> str:
    """The template with each {name} replaced by its field in one pass, as str.format does (a field's
    own braces are left alone); a placeholder without a field is an error."""

    def value(match: re.Match) -> str:
        if match.group(1) not in fields:
            raise UsageError(f"the template's {{{match.group(1)}}} is not a field of this task",
                             f"fields: {', '.join('{' + f + '}' for f in fields)}")
        return fields[match.group(1)]

    return _PLACEHOLDER.sub(value, template)


def options(record: dict[str, Any], where: str) -> dict[str, str]:
    """{OPTION_A: ..., OPTION_D: ...} from the record's four options."""
    opts = record.get("options")
    if not isinstance(opts, list) or len(opts) < 4:
        raise UsageError(f"{where}: record {_which(record)} has no four options", "is it the original file?")
    return {f"OPTION_{letter}": str(opt) for letter, opt in zip(LETTERS, opts, strict=False)}


def func_call(record: dict[str, Any], where: str) -> dict[str, str]:
    """Code.Run's {func_call} (the first call in the question) and {func} (its name)."""
    found = _FUNC_CALL.findall(str(record.get("input", "")))
    if not found:
        raise UsageError(f"{where}: record {_which(record)} asks for no func_<n>(<int>) call",
                         "is it the original code_run file?")
    return {"func_call": found[0], "func": found[0].split("(")[0]}


def choice_label(record: dict[str, Any], where: str) -> list[str]:
    """get_answer for En.MC and Code.Debug: [option text, letter], the letter found by the text's place
    among the options (or given as the answer's second element)."""
    answer, opts = record.get("answer"), record.get("options") or []
    if isinstance(answer, list) and len(answer) == 2 and answer[1] in list(LETTERS):
        return [str(answer[0]), answer[1]]
    text = answer[0] if isinstance(answer, list) and len(answer) == 1 else answer
    if not isinstance(text, str) or text not in opts[:4]:
        raise UsageError(f"{where}: record {_which(record)}'s answer {answer!r} is not one of its options",
                         "is it the original file?")
    return [text, LETTERS[opts.index(text)]]


def texts(record: dict[str, Any], where: str) -> list[str]:
    """The answer as a list of strings (the book and dialogue tasks; a lone string becomes a list)."""
    answer = record.get("answer")
    answer = [answer] if isinstance(answer, str) else answer
    if not isinstance(answer, list) or not answer or not all(isinstance(a, str) for a in answer):
        raise UsageError(f"{where}: record {_which(record)}'s answer is not a list of strings",
                         "is it the original file?")
    return answer


def integer(value: Any, record: dict[str, Any], where: str) -> int:
    """An int, or the string of one (a `datasets` copy with string features)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value)
    raise UsageError(f"{where}: record {_which(record)}'s answer holds {value!r}, not an integer",
                     "is it the original file?")


def code_run_label(record: dict[str, Any], where: str) -> list[int]:
    """Code.Run's answer as the file has it, a list holding the return value (a bare int is wrapped)."""
    answer = record.get("answer")
    answer = answer if isinstance(answer, list) else [answer]
    if not answer:
        raise UsageError(f"{where}: record {_which(record)} has an empty answer", "is it the original file?")
    return [integer(answer[0], record, where)]


def math_calc_label(record: dict[str, Any], where: str) -> list[int]:
    """Math.Calc's intermediate values (the file nests them in a one-element list)."""
    answer = record.get("answer")
    values = answer[0] if isinstance(answer, list) and answer and isinstance(answer[0], list) else answer
    if not isinstance(values, list) or not values:
        raise UsageError(f"{where}: record {_which(record)} has no list of values as answer",
                         "is it the original math_calc file?")
    return [integer(v, record, where) for v in values]
