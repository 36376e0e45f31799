"""Known-answer tables for LongBench v1's metrics, computed by the original LongBench/metrics.py.

Draws at least 1,000 cases per metric with a fixed seed (English and Chinese text, empty and
whitespace-only predictions, several references, punctuation/case/article variants, near misses,
long texts, numbers, code with comment lines, class lists) and writes, for each metric,
tests/fixtures/parity/longbench/<metric>.jsonl.gz: one JSON object per case with its inputs and
`expected`, the original's score against each answer.

The original is THUDM/LongBench @2e00731f8d0bff23dc4325161044d0ed8af94c1e, file LongBench/metrics.py,
run with LongBench's requirements: rouge 1.0.1, jieba 0.42.1, fuzzywuzzy 0.18.0 WITHOUT
python-Levenshtein (so fuzz.ratio is difflib's), CPython 3.11. To regenerate:

    mkdir -p /work/parity/longbench
    git -C THUDM+LongBench show 2e00731:LongBench/metrics.py > /work/parity/longbench/metrics.py
    /work/parity/venv/bin/python tests/parity/longbench_tables.py /work/parity/longbench

Run it as a script (not `-m`): the metrics are called at the stack depth LongBench's eval.py calls
them from (module → scorer → metric), which decides where the `rouge` package's recursion fails.
This file imports nothing from toroidal_bench, so the venv needs only the original's libraries.
"""

from __future__ import annotations

import difflib
import gzip
import json
import random
import string
import sys
import warnings
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "parity" / "longbench"
SEED = 12
CASES = 1100

EN_WORDS = (
    "report committee budget river mountain city council school teacher student village market price "
    "growth policy company product research data model language history war peace king queen army "
    "ship island forest winter summer night morning doctor patient hospital train station bridge road "
    "letter book story novel author film music song garden house door window water fire light stone "
    "gold silver paper money bank court judge law vote election president minister senate energy oil "
    "coal power plant factory worker union strike meeting plan project result reason effect change "
    "was is are were has had will would could said found made took gave saw went came left ran "
    "new old big small first last long short high low early late good bad great little young major"
).split()
EN_NAMES = "Alice Bob Carol Dave Paris London Berlin Tokyo Nile Amazon Everest NASA UNESCO Mars".split()
ARTICLES = ("a", "an", "the", "A", "An", "The", "THE")
ZH_WORDS = (
    "北京 上海 天气 今天 我们 会议 讨论 项目 进度 问题 解决 方案 公司 市场 经济 发展 中国 历史 文化 "
    "学生 老师 学校 医院 医生 病人 治疗 时间 地点 原因 结果 因为 所以 但是 而且 如果 可以 需要 已经 "
    "没有 非常 重要 主要 研究 技术 数据 系统 用户 产品 服务 价格 增长 下降 人民 政府 政策 环境 保护 "
    "城市 农村 交通 手机 电脑 网络 互联网 人工智能 模型 语言 长江 黄河 山 水 的 了 是 在 和 有 也 都 "
    "就 很 他 她 它 我 你 这个 那个 一个 两 三 年 月 日 第一 第二 大家 同意 建议 认为 表示 提出 完成"
).split()
ZH_PUNCT = list("，。！？；：“”《》、（）…—·「」【】") + ["……", "——"]
EN_PUNCT = list(".,;:!?'\"()-") + ["...", " - ", "--"]
SPACES = (" ", "  ", "\t", "\n", " \n ", "\u3000", "\xa0")


# --- text pieces ---------------------------------------------------------------------------------------


def en_phrase(rng: random.Random, lo: int = 1, hi: int = 6) -> str:
    words = [rng.choice(EN_NAMES if rng.random() < 0.15 else EN_WORDS) for _ in range(rng.randint(lo, hi))]
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words) + 1), rng.choice(ARTICLES))
    if rng.random() < 0.15:
        words.append(str(rng.choice([1, 3, 12, 42, 1999, 2023, 3.5])))
    return " ".join(words)


def en_sentences(rng: random.Random, sentences: int, words: tuple[int, int] = (3, 14)) -> str:
    out = []
    for _ in range(sentences):
        s = en_phrase(rng, *words)
        out.append(s[0].upper() + s[1:] + rng.choice([".", ".", ".", "!", "?", ",", ""]))
    return rng.choice([" ", " ", "\n", "  "]).join(out)


def zh_phrase(rng: random.Random, lo: int = 1, hi: int = 8) -> str:
    parts = [rng.choice(ZH_WORDS) for _ in range(rng.randint(lo, hi))]
    if rng.random() < 0.15:
        parts.insert(rng.randrange(len(parts) + 1), rng.choice(["2023年", "3.5", "百分之十", "AI", "GPU"]))
    return "".join(parts)


def zh_text(rng: random.Random, clauses: int) -> str:
    return "".join(
        zh_phrase(rng, 2, 9) + rng.choice(["，", "，", "。", "。", "；", "！", ".", ""])
        for _ in range(clauses)
    )


def punctuate(rng: random.Random, text: str, marks: list[str]) -> str:
    """Sprinkle punctuation marks between and around the characters of `text`."""
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        chars.insert(rng.randrange(len(chars) + 1), rng.choice(marks))
    return "".join(chars)


def recase(rng: random.Random, text: str) -> str:
    return rng.choice([str.upper, str.lower, str.title, str.capitalize, str.swapcase])(text)


def near_miss(rng: random.Random, text: str, alphabet: str) -> str:
    """One character changed, dropped or added."""
    if not text:
        return rng.choice(alphabet)
    i = rng.randrange(len(text))
    edit = rng.randrange(3)
    if edit == 0:
        return text[:i] + rng.choice(alphabet) + text[i + 1 :]
    if edit == 1:
        return text[:i] + text[i + 1 :]
    return text[:i] + rng.choice(alphabet) + text[i:]


def blank(rng: random.Random) -> str:
    return rng.choice(["", " ", "\n", "\n\n", "\t", "  \n  ", "\u3000"])


def spaced(rng: random.Random, words: list[str]) -> str:
    """Words joined by an assortment of whitespace runs."""
    return "".join(w + rng.choice(SPACES) for w in words).strip()


# --- cases per metric ----------------------------------------------------------------------------------


def answers_list(rng: random.Random, first: str, other) -> list[str]:
    """One to four references: the first given, the rest drawn (sometimes an empty one)."""
    refs = [first] + [other() for _ in range(rng.choice([0, 0, 0, 1, 2, 3]))]
    if rng.random() < 0.03:
        refs.append("")
    rng.shuffle(refs)
    return refs


def qa_f1_case(rng: random.Random) -> dict:
    gold = en_phrase(rng)
    kind = rng.randrange(12)
    if kind == 0:
        pred = gold
    elif kind == 1:
        pred = recase(rng, gold)
    elif kind == 2:
        pred = punctuate(rng, gold, EN_PUNCT)
    elif kind == 3:
        pred = f"{rng.choice(ARTICLES)} {gold}" if rng.random() < 0.5 else gold.replace("the ", "")
    elif kind == 4:
        pred = f"{en_phrase(rng, 2, 8)} {gold}. {en_sentences(rng, rng.randint(0, 3))}"
    elif kind == 5:
        pred = near_miss(rng, gold, string.ascii_lowercase + " ")
    elif kind == 6:
        pred = blank(rng)
    elif kind == 7:
        pred = " ".join(rng.sample(gold.split(), len(gold.split())))  # reordered
    elif kind == 8:
        pred = en_sentences(rng, rng.randint(5, 15))  # long
    elif kind == 9:
        pred = rng.choice(["the", "A an the", "...", "—", "the.", "Ünïcödé café", zh_phrase(rng), "a 12"])
    elif kind == 10:
        pred = spaced(rng, gold.split() * rng.randint(1, 3))
    else:
        pred = en_phrase(rng)
    return {"prediction": pred, "answers": answers_list(rng, gold, lambda: en_phrase(rng))}


def qa_f1_zh_case(rng: random.Random) -> dict:
    gold = zh_phrase(rng) if rng.random() < 0.85 else f"{zh_phrase(rng, 1, 3)} {en_phrase(rng, 1, 2)}"
    kind = rng.randrange(12)
    if kind == 0:
        pred = gold
    elif kind == 1:
        pred = punctuate(rng, gold, ZH_PUNCT + EN_PUNCT)
    elif kind == 2:
        pred = f"答案是：{gold}。"
    elif kind == 3:
        pred = near_miss(rng, gold, "".join(ZH_WORDS))
    elif kind == 4:
        pred = blank(rng)
    elif kind == 5:
        pred = zh_text(rng, rng.randint(5, 20))  # long
    elif kind == 6:
        pred = spaced(rng, list(gold))
    elif kind == 7:
        pred = recase(rng, gold + " " + en_phrase(rng, 1, 3))
    elif kind == 8:
        pred = zh_text(rng, 2) + gold + zh_text(rng, 2)
    elif kind == 9:
        pred = rng.choice(["。", "，，", "……", "“”", "The answer", "3.5", "百分之十", "ＡＢＣ"])
    elif kind == 10:
        pred = gold * 2
    else:
        pred = zh_phrase(rng)
    return {"prediction": pred, "answers": answers_list(rng, gold, lambda: zh_phrase(rng))}


def rouge_case(rng: random.Random) -> dict:
    gold = en_sentences(rng, rng.randint(1, 4), (3, 8))
    kind = rng.randrange(14)
    if kind == 0:
        pred = gold
    elif kind == 1:
        pred = recase(rng, gold)
    elif kind == 2:
        pred = punctuate(rng, gold, EN_PUNCT)
    elif kind == 3:
        pred = en_sentences(rng, rng.randint(1, 4), (3, 8))
    elif kind == 4:
        pred = blank(rng)
    elif kind == 5:
        pred = rng.choice([".", "...", ". .", " . ", "..\n..", "?", "a.b.c", "1.5"])
    elif kind == 6:
        pred = gold.replace(".", "") if rng.random() < 0.5 else gold.replace(" ", "  ")
    elif kind == 7:
        pred = en_sentences(rng, rng.randint(8, 15))  # long
    elif kind == 8:
        words = gold.split()
        pred = " ".join(words[: rng.randint(0, len(words))])  # truncated
    elif kind == 9:
        pred = gold + " " + gold  # repeated words: the package counts each word once
    elif kind == 10:
        pred = near_miss(rng, gold, string.ascii_lowercase + " .")
    elif kind == 11:
        pred = zh_text(rng, 3) if rng.random() < 0.5 else gold.replace(" ", "\n")
    elif kind == 12:
        gold = rng.choice(["", ".", "...", " ", gold])
        pred = en_sentences(rng, 2)
    else:
        pred = spaced(rng, gold.split())
    return {"prediction": pred, "answers": answers_list(rng, gold, lambda: en_sentences(rng, 2, (3, 8)))}


def rouge_deep_cases(rng: random.Random, room: int) -> list[dict]:
    """'.'-free texts whose ROUGE-L recursion in the `rouge` package ends just inside or past the
    original's room (991 nested calls for rouge_score, one less for rouge_zh_score)."""
    cases = []
    for n in range(room - 4, room + 4):
        # n distinct words against a prefix (or the prediction against a longer reference): the
        # package's LCS reconstruction steps back n times, so it nests n + 1 calls
        words = [f"w{k}" for k in range(n)]
        short = words[: rng.choice([1, 2, 3])]
        pred, gold = (words, short) if n % 2 else (short, words)
        cases.append({"prediction": " ".join(pred), "answers": [" ".join(gold)]})
    # long together, but the path is short: the reference is the prediction's tail
    words = [f"w{k}" for k in range(960)]
    cases.append({"prediction": " ".join(words), "answers": [" ".join(words[-40:])]})
    cases.append({"prediction": zh_text(rng, 120).replace(".", ""), "answers": [zh_text(rng, 40)]})
    return cases


def rouge_zh_case(rng: random.Random) -> dict:
    gold = zh_text(rng, rng.randint(1, 4))
    kind = rng.randrange(12)
    if kind == 0:
        pred = gold
    elif kind == 1:
        pred = punctuate(rng, gold, ZH_PUNCT + EN_PUNCT)
    elif kind == 2:
        pred = zh_text(rng, rng.randint(1, 4))
    elif kind == 3:
        pred = blank(rng)
    elif kind == 4:
        pred = rng.choice(["。", ".", "...", "……", " . ", "3.5", "，"])
    elif kind == 5:
        pred = zh_text(rng, rng.randint(8, 15))  # long
    elif kind == 6:
        pred = gold[: rng.randint(0, len(gold))]
    elif kind == 7:
        pred = gold + gold
    elif kind == 8:
        pred = near_miss(rng, gold, "".join(ZH_WORDS) + "。.")
    elif kind == 9:
        pred = spaced(rng, list(gold)) if rng.random() < 0.5 else en_sentences(rng, 2)
    elif kind == 10:
        gold = rng.choice(["", "。", ".", " ", gold])
        pred = zh_text(rng, 2)
    else:
        pred = gold.replace("。", ".")
    return {"prediction": pred, "answers": answers_list(rng, gold, lambda: zh_text(rng, 2))}


EN_CLASSES = [
    "Date", "Other date", "Number", "Other number", "Number of something", "City", "Country", "Color",
    "Animal", "Food", "Sport", "Event", "Individual", "Title of a person", "Description of a person",
    "Description of something", "Definition of something", "Reason", "Location", "Other location",
    "Speed", "Weight", "Percent, fraction", "Order, rank", "Size, area and volume", "Other",
]  # fmt: skip
ZH_CLASSES = [
    "体育", "体育新闻", "新闻", "军事", "国际军事", "国际", "财经", "股票", "财经股票", "科技", "科技新闻",
    "教育", "娱乐", "娱乐八卦", "房产", "汽车", "农业、农村", "农业", "其他",
]  # fmt: skip


def classification_case(rng: random.Random) -> dict:
    pool = EN_CLASSES if rng.random() < 0.6 else ZH_CLASSES
    classes = rng.sample(pool, rng.randint(3, len(pool)))
    if rng.random() < 0.1:
        classes.insert(rng.randrange(len(classes)), rng.choice(classes))  # a repeated name
    gold = rng.choice(classes) if rng.random() < 0.9 else rng.choice(pool)
    # names inside the gold name and names containing it are what the original's removal loop is about
    related = [c for c in classes if c in gold or gold in c]
    picked = rng.sample(related, rng.randint(0, len(related))) + rng.sample(classes, rng.randint(0, 3))
    rng.shuffle(picked)
    kind = rng.randrange(8)
    if kind == 0:
        pred = ", ".join(picked)
    elif kind == 1:
        pred = f"Type: {' '.join(picked)}"
    elif kind == 2:
        pred = gold
    elif kind == 3:
        pred = blank(rng)
    elif kind == 4:
        pred = recase(rng, gold)
    elif kind == 5:
        pred = near_miss(rng, gold, "abcdeo 体新闻")
    elif kind == 6:
        pred = "".join(picked)
    else:
        pred = f"{en_phrase(rng, 0, 3)} {gold} {' / '.join(picked)}"
    return {"prediction": pred, "answers": [gold], "all_classes": classes}


def numbers_pred(rng: random.Random, target: int, label: str) -> str:
    other = rng.randint(0, 60)
    return rng.choice(
        [
            f"{label}{target}",
            f"The answer is: {label}{target}",
            f"答案是：{label}{target}",
            f"{label}{target}, {label}{other}",
            f"{label}{other}",
            f"{target}",
            f"0{target}",
            f"{label} {target}",
            str(target).translate(str.maketrans("0123456789", "０１２３４５６７８９")),
            f"{target}.0",
            f"-{target}",
            f"{target}{target}",
            f"{label}{target}. There are {other} paragraphs in {2000 + other}.",
            f"{label}{target}\n{label}{target}",
            "",
            " ",
            "none",
            f"{label.lower()}{target}",
            f"{target} {target} {other}",
            "\n".join(f"{label}{rng.randint(0, 40)}" for _ in range(rng.randint(2, 6))),
        ]
    )


def retrieval_case(rng: random.Random, label: str) -> dict:
    target = rng.randint(0, 45)
    gold = rng.choice([f"{label}{target}", f"{label}{target}", f"{label}{target}.", f"{label}{target:02d}"])
    return {"prediction": numbers_pred(rng, target, label), "answers": [gold]}


def count_case(rng: random.Random) -> dict:
    target = rng.randint(0, 45)
    pred = numbers_pred(rng, target, rng.choice(["", "", "There are ", "数量：", "Paragraph "]))
    return {"prediction": pred, "answers": [rng.choice([str(target), str(target), f"{target:02d}"])]}


CODE_LINES = [
    "x = foo(bar, baz)",
    "return self.data[index]",
    "for i in range(len(items)):",
    "if (count > 0) { count--; }",
    "public static void main(String[] args) {",
    "    result.append(item.strip())",
    'System.out.println("value: " + value);',
    "const total = items.reduce((a, b) => a + b, 0);",
    "self.assertEqual(response.status_code, 200)",
    "int n = sizeof(buf) / sizeof(buf[0]);",
    "    }",
    "import numpy as np",
    "path = os.path.join(root, name, 'data.json')",
]
COMMENTS = [
    "# TODO: fix",
    "// next line",
    "```python",
    "```",
    "/* block */",
    "#include <stdio.h>",
    "print('#')",
]


def code_line(rng: random.Random) -> str:
    line = rng.choice(CODE_LINES)
    if rng.random() < 0.05:  # long lines: difflib's junk heuristic starts at 200 characters
        line = ", ".join(rng.choice(CODE_LINES) for _ in range(rng.randint(6, 14)))
    return line


def code_sim_case(rng: random.Random) -> dict:
    gold = code_line(rng)
    kind = rng.randrange(11)
    if kind == 0:
        first = gold
    elif kind == 1:
        first = near_miss(rng, gold, string.ascii_letters + "()[]{}.;= ")
    elif kind == 2:
        first = gold.strip() if gold != gold.strip() else "    " + gold
    elif kind == 3:
        first = code_line(rng)
    elif kind == 4:
        first = blank(rng).replace("\n", "")
    elif kind == 5:
        first = gold.replace(" ", "")
    elif kind == 6:
        first = gold[: rng.randint(0, len(gold))]
    elif kind == 7:
        first = gold.upper()
    elif kind == 8:
        first = gold + "  # comment" if rng.random() < 0.5 else gold.replace("(", "`(")
    elif kind == 9:
        first = zh_phrase(rng) if rng.random() < 0.5 else gold * 2
    else:
        first = "".join(rng.sample(gold, len(gold)))
    lines = [rng.choice(COMMENTS) for _ in range(rng.choice([0, 0, 1, 2, 3]))]
    lines += [first] + [code_line(rng) for _ in range(rng.randint(0, 3))]
    pred = "\n" * rng.choice([0, 0, 1, 2]) + "\n".join(lines)
    if rng.random() < 0.05:
        pred = rng.choice(["", "\n", "```", "# only a comment", "\n\n# a\n// b"])
    if rng.random() < 0.02:
        gold = ""
    return {"prediction": pred, "answers": answers_list(rng, gold, lambda: code_line(rng))}


def draw(rng: random.Random, make, extra: list[dict] = ()) -> list[dict]:
    return [make(rng) for _ in range(CASES)] + list(extra)


def tables() -> dict[str, list[dict]]:
    rng = random.Random(SEED)
    return {
        "qa_f1_score": draw(rng, qa_f1_case),
        "qa_f1_zh_score": draw(rng, qa_f1_zh_case),
        "rouge_score": draw(rng, rouge_case, rouge_deep_cases(rng, 991)),
        "rouge_zh_score": draw(rng, rouge_zh_case, rouge_deep_cases(rng, 990)),
        "classification_score": draw(rng, classification_case),
        "retrieval_score": draw(rng, lambda r: retrieval_case(r, "Paragraph ")),
        "retrieval_zh_score": draw(rng, lambda r: retrieval_case(r, "段落")),
        "count_score": draw(rng, count_case),
        "code_sim_score": draw(rng, code_sim_case),
    }


def scorer(metric, prediction, ground_truth, all_classes):
    """The call LongBench's eval.py makes, from the same stack depth (module → scorer → metric)."""
    return metric(prediction, ground_truth, all_classes=all_classes)


# Module level on purpose, with plain loops (a comprehension is a frame of its own in CPython 3.11):
# see `scorer`.
if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/parity/longbench_tables.py DIR_WITH_ORIGINAL_METRICS_PY")
    sys.path.insert(0, sys.argv[1])
    warnings.filterwarnings("ignore", message="Using slow pure-python SequenceMatcher")
    import jieba
    import metrics as original

    jieba.setLogLevel(30)
    if original.fuzz.SequenceMatcher is not difflib.SequenceMatcher:
        sys.exit("python-Levenshtein is installed; LongBench's requirements do not install it")
    if sys._getframe().f_back is not None:
        sys.exit("run this file as a script, not with -m (the call depth matters, see the docstring)")
    OUT.mkdir(parents=True, exist_ok=True)
    for name, cases in tables().items():
        metric = getattr(original, name)
        for case in cases:
            case["expected"] = []
            for answer in case["answers"]:
                case["expected"].append(scorer(metric, case["prediction"], answer, case.get("all_classes")))
        lines = "".join(json.dumps(case, ensure_ascii=False) + "\n" for case in cases)
        (OUT / f"{name}.jsonl.gz").write_bytes(gzip.compress(lines.encode("utf-8"), mtime=0))
        pairs = sum(len(c["answers"]) for c in cases)
        print(f"{name}: {len(cases)} cases, {pairs} (prediction, answer) pairs")
