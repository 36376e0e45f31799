"""Known-answer tables for InfiniteBench's scorers, computed by the ORIGINAL src/compute_scores.py.

Not collected by pytest: it runs out of tree, in a virtual environment with what compute_scores
imports (rouge, jieba, evaluate 0.4.1, rouge-score, nltk, tqdm), against a copy of the original
files. It draws cases per task with a fixed seed (English and Chinese text, empty and blank
predictions, several references, option letters in odd formats, number sequences), scores each with
`compute_scores.get_score_one(pred, label, task, "yarn-mistral")` and writes
tests/fixtures/parity/infinitebench/<task>.jsonl.gz: one {"pred", "label", "expected"} object per
case, or {"pred", "label", "raises"} where the original raises. tests/test_infinitebench_metric_parity.py
checks tbench's scorers against every case.

compute_scores loads ROUGE with `evaluate.load("rouge")`, a module evaluate fetches from the hub. With
the hub out of reach, the same module is loaded from a local folder named `rouge` in the working
directory, which `evaluate.load` prefers: huggingface/evaluate's metrics/rouge/rouge.py at 57fe685 (the
module the hub served with evaluate 0.4.1; only comments changed since).

Regenerate (OpenBMB/InfiniteBench @88b3daa):

    mkdir -p /work/parity/infinitebench/rouge && cd /work/parity/infinitebench
    for f in compute_scores.py eval_utils.py prompt.py args.py; do
        git -C /work/.mirror/OpenBMB+InfiniteBench/repo show 88b3daa:src/$f > $f; done
    git -C /work/.mirror/huggingface+evaluate/repo show 57fe685:metrics/rouge/rouge.py > rouge/rouge.py
    /work/parity/venv/bin/pip install evaluate==0.4.1   # plus rouge jieba rouge-score nltk tqdm
    HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 /work/parity/venv/bin/python \\
        <repo>/tests/parity/infinitebench_tables.py --original . --out <repo>/tests/fixtures/parity/infinitebench

`--published DIR` also writes tables from the predictions the original repository publishes
(results/<model>/preds_<task>.jsonl, read from --mirror) into DIR, for a check on real model outputs;
those tables stay out of the repository.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import string
import subprocess
import sys
import uuid
from pathlib import Path

SEED = 20240613
CASES = 1200

EN_WORDS = ("the a an The A An harbour lighthouse teapot blue Mara Vell gulls mill seventeen forty-two "
            "quietly didn't can't it's won't O'Brien mother-in-law café naïve résumé x 3 42 1999 "
            "answer is option ANSWER north south river King of Spain").split()
PUNCT = list(string.punctuation) + ["…", "—", "–", "“", "”", "‘", "’", "«", "»", "¿", "¡"]
ZH_WORDS = ["苏小梅", "茶楼", "第三张", "桌子", "下面", "林青", "江边", "书院", "明天", "再来", "时辰", "一刀",
            "胡一刀", "马行空", "商老太", "二十", "年", "他", "的", "了", "在", "是", "不", "书", "Alice", "2019"]
ZH_PUNCT = list("，。！？；：、“”‘’（）《》【】…—～·「」『』") + ["﹏", "‧", "〃", "．", "｡"]
SPACES = [" ", "  ", "\t", "\n", "\n\n", "\u00a0", "\u3000", " \n "]
NAMES = ["ACE", "GAGGI", "REMO", "JOHN", "MARY", "O'NEIL", "HAL 9000", "DR. FLOYD", "STRASSE", "ÉMILE", "BOWMAN",
         "JIM GARRISON", "Remo", "remo Gaggi", "Bill", "JUNE", "MR. PIKE", "ß", "İ"]
FUNCS = ["repack_carchive", "Configer._set_option", "HelpFormatter._format_args", "cmd_gen", "load_config",
         "merge_rows", "Cache.get", "A", "B", "option_parser", "is_answer", "Answer.get", "split-words"]


def pick(rng, items, k):
    return [rng.choice(items) for _ in range(k)]


def english(rng, low=1, high=8) -> str:
    words = pick(rng, EN_WORDS, rng.randint(low, high))
    out = []
    for w in words:
        r = rng.random()
        out.append(w + rng.choice(PUNCT) if r < 0.15 else w.upper() if r < 0.22 else w.capitalize() if r < 0.3 else w)
    return "".join(w + rng.choice(SPACES[:4] if rng.random() < 0.2 else [" "]) for w in out).rstrip(" ")


def chinese(rng, low=1, high=8) -> str:
    out = ""
    for _ in range(rng.randint(low, high)):
        out += rng.choice(ZH_WORDS)
        if rng.random() < 0.3:
            out += rng.choice(ZH_PUNCT + PUNCT[:8])
        if rng.random() < 0.1:
            out += rng.choice(SPACES)
    return out


def mutate(rng, text: str) -> str:
    """A near miss or variant: case, punctuation, articles, whitespace, dropped/added/shuffled words."""
    ops = rng.randint(0, 3)
    for _ in range(ops):
        r = rng.random()
        words = text.split(" ")
        if r < 0.15:
            text = text.lower() if rng.random() < 0.5 else text.upper()
        elif r < 0.3:
            at = rng.randint(0, len(text))
            text = text[:at] + rng.choice(PUNCT + ZH_PUNCT) + text[at:]
        elif r < 0.45:
            text = rng.choice(["the ", "a ", "An ", "The "]) + text
        elif r < 0.6 and len(words) > 1:
            words.pop(rng.randrange(len(words)))
            text = " ".join(words)
        elif r < 0.7:
            words.insert(rng.randint(0, len(words)), rng.choice(EN_WORDS + ZH_WORDS))
            text = " ".join(words)
        elif r < 0.8:
            rng.shuffle(words)
            text = " ".join(words)
        elif r < 0.9:
            text = rng.choice(SPACES) + text + rng.choice(SPACES)
        else:
            text = text.replace(" ", rng.choice(SPACES))
    return text


def free_text_cases(rng, language: str):
    """(pred, references) for the QA F1 scorers."""
    make = english if language == "en" else chinese
    refs = [make(rng) if rng.random() < 0.9 else make(rng, 30, 200) for _ in range(rng.choice([1, 1, 1, 2, 3, 4]))]
    if rng.random() < 0.05:
        refs[rng.randrange(len(refs))] = rng.choice(["", " ", "the", "!!", "。"])
    if rng.random() < 0.1:  # the other language's text
        refs.append(chinese(rng) if language == "en" else english(rng))
    r = rng.random()
    if r < 0.08:
        pred = rng.choice(["", " ", "\n", "\t\n", "\u3000"])
    elif r < 0.5:
        pred = mutate(rng, rng.choice(refs))
    elif r < 0.7:
        pred = rng.choice(refs) + rng.choice(SPACES) + make(rng)
    elif r < 0.8:
        pred = make(rng, 40, 300)
    else:
        pred = make(rng)
    return pred, refs


def summary(rng, sentences: int, words: int = 12) -> str:
    parts = []
    for _ in range(sentences):
        s = english(rng, 2, words)
        if rng.random() < 0.1:
            s += " " + chinese(rng, 1, 3)
        parts.append(s + rng.choice([".", ".", "!", "?", "", ";"]))
    out = ""
    for p in parts:
        out += p + rng.choice(["\n", " ", "\n\n", " \n", "\n", ".\n"])
    return out.strip() if rng.random() < 0.8 else out


def rouge_cases(rng):
    # mostly a few short lines (pure-Python LCS is quadratic); a few long summaries
    size = (rng.randint(8, 20), 25) if rng.random() < 0.03 else (rng.randint(1, 6), 12)
    refs = [summary(rng, *size) for _ in range(rng.choice([1, 1, 1, 1, 2, 3]))]
    r = rng.random()
    if r < 0.08:
        pred = rng.choice(["", " ", "\n\n", "\t"])
    elif r < 0.4:
        lines = rng.choice(refs).split("\n")
        rng.shuffle(lines)
        pred = "\n".join(mutate(rng, line) if rng.random() < 0.5 else line for line in lines)
    elif r < 0.55:
        pred = rng.choice(refs).replace("\n", rng.choice([" ", "\n\n", ". "]))
    elif r < 0.65:
        pred = chinese(rng, 5, 30)
    elif r < 0.75:
        pred = rng.choice(refs) * rng.randint(1, 2)
    else:
        pred = summary(rng, rng.randint(1, 8))
    label = refs if rng.random() < 0.9 else refs[0]  # the files hold a list; a bare string is evaluate's other form
    return pred, label


CHOICE_FORMS = ["{L}", "{L}.", " {L}", "({L})", "{L}) {T}", "{L}. {T}", "The answer is {L}", "The answer is {L}.",
                "answer: {L}", "Answer: {L}", "The correct answer is: {T}", "The answer is: {L}. {T}", "option is {L}",
                "The correct option is {L}", "I think it's {L}", "{T}", "{l}", ":\n\nThe answer to your question is {L}. {T}",
                "**{L}**", '"{L}"', "{L}\n", "The answer is", "the answer is:", "Option {L}", "option {L}", "{L} and {M}",
                "AB", "BCD", "ABCD", "E", "ABC is wrong, {L}", "{T} is the answer", "答案是{L}", "答案：{T}", "{L}{M}",
                "\n\n    {L}\n    {M}", "answer is{L}", "answer is:{L}", "answer is: {T}", "answer: {l}", "{t}",
                "Based on the book, option is {T}.", "I'd say {L}, {M}", "the answer {L}", "It must be {M}"]


def options(rng) -> list[str]:
    opts = []
    while len(opts) < 4:
        o = english(rng, 1, 5).strip() or "x"
        if o not in opts:
            opts.append(o)
    return opts


def choice_cases(rng):
    opts = options(rng)
    gold = rng.randrange(4)
    label = [opts[gold], "ABCD"[gold]]
    guess = gold if rng.random() < 0.5 else rng.randrange(4)
    other = rng.randrange(4)
    form = rng.choice(CHOICE_FORMS)
    pred = (form.replace("{L}", "ABCD"[guess]).replace("{l}", "abcd"[guess]).replace("{M}", "ABCD"[other])
            .replace("{T}", opts[guess]).replace("{t}", opts[guess].lower()))
    if rng.random() < 0.2:
        pred = mutate(rng, pred)
    return pred, label


DEBUG_FORMS = ["{L}.", "{L}:", "{L}. {F}", "{L}: {F}", " {L}", "{L}", "The correct option is: {L}", "answer is: {F}",
               "The answer is: {L}", "is: Option {L}", "The correct option is: Option {L}", "`{F}`", "-{L}", "**{L}**",
               "answer:{L}", "answer: {F}()", "correct option is:", "The error is: {F}", "It is: {M}",
               "The correct answer is:\n\n{L}. {F}", "After inspecting {G}, the answer is: {L}", "option {L}",
               "The function with the error is `{F}`.", "answer is: `{F}`", "answer is: - {L}", "answer is: *{L}*",
               "{l}.", "{L}.{F}", "", "\n", " A\n    B\n    C\n    D", "answer is: \"{F}\"", "is:{L}", "is: {l}",
               "{F}", "The answer is: {G}", "Option {L}: {F}", "answer is: Option{L}"]


def debug_cases(rng):
    fns = rng.sample(FUNCS, 4)
    gold = rng.randrange(4)
    label = [fns[gold], "ABCD"[gold]]
    guess = gold if rng.random() < 0.5 else rng.randrange(4)
    form = rng.choice(DEBUG_FORMS)
    pred = (form.replace("{L}", "ABCD"[guess]).replace("{l}", "abcd"[guess]).replace("{M}", "ABCD"[rng.randrange(4)])
            .replace("{F}", fns[guess]).replace("{G}", fns[rng.randrange(4)]))
    if rng.random() < 0.2:
        pred = mutate(rng, pred)
    return pred, label


DIALOGUE_FORMS = ["{N}", "{n}.", "{C}:", "It is {C}'s line", "likely {C}", "{N}-{O}", "to be '{C}'.", '"{N}"',
                  "Based on the context, the character is {C}.", "{N}\n\n\nINT. HOUSE - DAY {O} is here.", "{O}",
                  "{N}!", "{N}?", "{{{N}}}", "{N};", "({N})", "", " ", "{C} and {O}", "{N}s", "Dr. {C}."]


def dialogue_cases(rng):
    label = rng.sample(NAMES, rng.choice([1, 1, 2, 3]))
    name = label[0] if rng.random() < 0.6 else rng.choice(NAMES)
    form = rng.choice(DIALOGUE_FORMS)
    pred = (form.replace("{N}", name).replace("{n}", name.lower()).replace("{C}", name.title())
            .replace("{O}", rng.choice(NAMES)))
    if rng.random() < 0.15:
        pred = mutate(rng, pred)
    return pred, label


RUN_FORMS = ["{v}", "{v}.", "The value is {v}", "{v}\n\n\n", "= {v}", "`{v}`", "'{v}'", '"{v}"', "{v}:", "+{v}",
             "-{a}", "{v}.0", "{v},", "{v} is the answer", "The return value is: {v}", "func_3({w}) = {v}",
             "0{v}", "{v} ", " {v}.\n\nHere's the output", "{w}. - 8 = {v}. \n", "The return value is: func_1251({w})",
             "1_000", "٣", "{v}!", "{v})", "", " ", "\n", "{v} {w}", "{v}\t", "return {v}", "{v}`.", "**{v}**"]


def code_run_cases(rng):
    value = rng.randint(-60, 60)
    label = value if rng.random() < 0.5 else [value]
    guess = value if rng.random() < 0.5 else rng.randint(-60, 60)
    form = rng.choice(RUN_FORMS)
    pred = form.replace("{v}", str(guess)).replace("{a}", str(abs(guess))).replace("{w}", str(rng.randint(-10, 10)))
    if rng.random() < 0.03:
        pred = "7" * 5000  # past Python's int() digit limit: both sides count it wrong
    return pred, label


def math_calc_cases(rng):
    values = [rng.randint(0, 99) for _ in range(rng.randint(1, 60))]
    label = [values] if rng.random() < 0.5 else values
    r = rng.random()
    if r < 0.1:
        pred = rng.choice(["", " ", "[]", "Values:", "[1, 4, 8]"])
        return pred, label
    shown = list(values)
    if r < 0.3:
        shown = shown[: rng.randint(0, len(shown))]
    elif r < 0.6:
        at = rng.randrange(len(shown))
        shown[at] = rng.choice([shown[at] + 1, -shown[at], 0, 100])
    elif r < 0.7:
        shown = [rng.randint(0, 99)] + shown  # gpt4-style first operand in front
    elif r < 0.8:
        shown += [rng.randint(-99, 99) for _ in range(rng.randint(1, 5))]
    sep = rng.choice([", ", ",", " ", "\n", " -> ", "; ", ",  "])
    body = sep.join(str(v) for v in shown)
    pred = rng.choice(["[{}]", "{}", " [{}]\n\nLet's see", "Okay, here are the results:\n\n[{}]", "Values: [{}",
                       "{}, and so on", "0{}"]).format(body)
    if rng.random() < 0.1:
        pred = pred.replace(" ", "")
    return pred, label


def first_int_cases(rng, digits: int):
    key = "".join(str(rng.randint(0, 9)) for _ in range(digits))
    guess = key if rng.random() < 0.6 else key[:-1] + str((int(key[-1]) + 1) % 10)
    form = rng.choice(["{k}", " {k}.", "\n{k}\n", "The pass key is {k}", "{k} and 99", "-{k}", "x{k}y", "٣{k}",
                       "１２３ {k}", "{a} {b}", "0{k}", "{k}0", "", "  ", "{k}.5", "The sequence of digits is {k}."])
    half = len(guess) // 2
    pred = form.replace("{k}", guess).replace("{a}", guess[:half]).replace("{b}", guess[half:])
    return pred, key if rng.random() < 0.8 else [key]


def kv_cases(rng):
    label = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    guess = label if rng.random() < 0.6 else str(uuid.UUID(int=rng.getrandbits(128), version=4))
    form = rng.choice(["{u}", 'The value is "{u}".', "{{'{u}'}}", "key:{u}!", "{u}\t and more", "({u})", "{u};",
                       "{u}x", "{U}", "", " \n ", "{h}", '{"a": "{u}"}', "{u}?", "[{u}]"])
    pred = form.replace("{u}", guess).replace("{U}", guess.upper()).replace("{h}", guess[:-1])
    return pred, label


def math_find_cases(rng):
    label = rng.randint(0, 99) if rng.random() < 0.7 else rng.choice([rng.randint(0, 99) + 0.5, float(rng.randint(0, 99))])
    shown = label if rng.random() < 0.6 else rng.randint(0, 99)
    form = rng.choice(["{v}", "The answer is {v}.", "0{v}", "-{v}", "{v}.0", "{v}.5", "", " ", "{v} {w}", "٤٢",
                       "{w} {v}", "{v}/2", "about {v}"])
    text = str(int(shown)) if isinstance(shown, float) and shown.is_integer() and rng.random() < 0.5 else str(shown)
    return form.replace("{v}", text).replace("{w}", str(rng.randint(0, 99))), label


TASKS = {
    "longbook_qa_eng": lambda rng: free_text_cases(rng, "en"),
    "longbook_qa_chn": lambda rng: free_text_cases(rng, "zh"),
    "longbook_sum_eng": rouge_cases,
    "longbook_choice_eng": choice_cases,
    "code_debug": debug_cases,
    "longdialogue_qa_eng": dialogue_cases,
    "code_run": code_run_cases,
    "math_calc": math_calc_cases,
    "passkey": lambda rng: first_int_cases(rng, 5),
    "number_string": lambda rng: first_int_cases(rng, 10),
    "kv_retrieval": kv_cases,
    "math_find": math_find_cases,
}


def run_original(score_one, task: str, pred, label) -> dict:
    case = {"pred": pred, "label": label}
    try:
        case["expected"] = score_one(pred, label, task, "yarn-mistral")
    except Exception as exc:  # noqa: BLE001 - the original's own failure is part of the table
        case["raises"] = type(exc).__name__
    return case


def write(path: Path, cases: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(path, "wb", mtime=0) as fh:  # mtime 0: the same cases give the same bytes
        fh.write("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases).encode("utf-8"))


def published(mirror: Path, task: str):
    """(pred, label) of every published prediction file of `task` in the original repository."""
    names = subprocess.run(["git", "-C", str(mirror), "ls-tree", "-r", "--name-only", "HEAD", "results"],
                           capture_output=True, text=True, check=True).stdout.split()
    for name in sorted(n for n in names if n.endswith(f"/preds_{task}.jsonl")):
        shown = subprocess.run(["git", "-C", str(mirror), "show", f"HEAD:{name}"], capture_output=True, text=True)
        if shown.returncode != 0:  # listed but not stored in the mirror
            continue
        text = shown.stdout
        for line in text.splitlines():
            try:
                row = json.loads(line)
            except ValueError:  # a few published files hold a malformed line; compute_scores fails on them too
                continue
            if row.get("prediction", row.get("pred")) is not None:
                yield row.get("prediction", row.get("pred")), row.get("ground_truth", row.get("label"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--original", type=Path, required=True, help="folder holding the original src/ files")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--published", type=Path, help="also tabulate the published predictions into this folder")
    parser.add_argument("--mirror", type=Path, default=Path("/work/.mirror/OpenBMB+InfiniteBench/repo"))
    args = parser.parse_args()
    sys.path.insert(0, str(args.original.resolve()))
    from compute_scores import get_score_one  # the original, imported from its copy

    for task, draw in TASKS.items():
        rng = random.Random(f"{SEED}|{task}")
        cases = [run_original(get_score_one, task, *draw(rng)) for _ in range(CASES)]
        write(args.out / f"{task}.jsonl.gz", cases)
        hits = sum(1 for c in cases if c.get("expected"))
        print(f"{task}: {len(cases)} cases, {hits} scored above 0, {sum('raises' in c for c in cases)} raise")
        if args.published:
            real = [run_original(get_score_one, task, p, lab) for p, lab in published(args.mirror, task)]
            write(args.published / f"{task}.jsonl.gz", real)
            print(f"  published predictions: {len(real)}")


if __name__ == "__main__":
    main()
