"""Known-answer tables for the SCROLLS and ZeroSCROLLS metrics, computed by the original code.

Not collected by pytest: run it with the parity environment, which has rouge-score, nltk,
unidecode and lifelines (the libraries the originals import), and a copy of the original metric
code outside this repository:

    /work/parity/venv/bin/python tests/parity/scrolls_tables.py /work/parity/scrolls

`/work/parity/scrolls` holds
 - `scrolls_metric/`: the SCROLLS hub metric (`tau/scrolls` metrics/scrolls.py, read from a public
   copy, code verbatim) and its sub-modules rouge.py, f1.py, exact_match.py. The hub serves those
   three only from the hub, out of reach here; they are what scrolls.py says it copies: SQuAD
   v1.1's evaluate.py functions (huggingface/datasets metrics/squad/evaluate.py, verbatim) and the
   per-example branch of huggingface/datasets' rouge metric with transformers' postprocess_text;
 - `zero_scrolls_metric/zero_scrolls_functions.py`: ZeroSCROLLS' metric functions from a public copy
   marked "copied from official repo" (tau/zero_scrolls metrics/zero_scrolls.py itself is not
   reachable; its ROUGE is commented out in the copy, so ZeroSCROLLS' ROUGE is checked against
   SCROLLS' ROUGE code, which the ZeroSCROLLS paper's description matches).

Two substitutions, neither changing a value: the rouge module's multiprocessing Pool runs its
starmap in this process, and `nltk.sent_tokenize` (whose English Punkt model cannot be downloaded
here) is Punkt with untrained parameters. ROUGE-1/2/L tokenize on `[^a-z0-9]+`, so where the
splitter breaks sentences cannot change them: every ROUGE case is also scored with no splitting at
all, and the generator stops if any value differs.

Writes tests/fixtures/parity/scrolls/<metric>.jsonl.gz, one JSON object per case (the inputs and
the original's `expected`), from `random.Random(SEED)`.
"""

from __future__ import annotations

import gzip
import importlib
import itertools
import json
import random
import sys
import types
from pathlib import Path

SEED = 20260
OUT = Path(__file__).resolve().parents[1] / "fixtures" / "parity" / "scrolls"

WORDS = ("the a an report agency budget harbor river engineer council station signal captain garden "
         "lantern north ledger market archive tower winter vessel policy review funding office plan "
         "survey data model result method paper table yes no unanswerable entailment contradiction "
         "mentioned 1998 42 3.5 U.S. e.g. don't co-operate").split()
ACCENTED = ("café", "naïve", "Zürich", "São", "Ålesund", "straße", "Øresund", "façade", "Ελλάδα",
            "Москва", "東京", "北京大学", "中文 文本", "—", "“quoted”", "½", "ﬁne")
CHINESE = ("我们的预算增加了", "委员会通过了新的计划", "北京", "河流 港口", "数据 模型 结果")


def _stub_datasets() -> None:
    """scrolls.py subclasses datasets.Metric, which datasets 3+ no longer has; only its helper runs."""
    stub = types.ModuleType("datasets")

    class Metric:
        def __init__(self, config_name="", **_):
            self.config_name = config_name

    stub.Metric = Metric
    stub.utils = types.SimpleNamespace(file_utils=types.SimpleNamespace(
        add_start_docstrings=lambda *a: (lambda cls: cls)))
    sys.modules["datasets"] = stub


class _SerialPool:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def starmap(self, fn, args):
        return list(itertools.starmap(fn, args))


def load_originals(root: Path):
    sys.path.insert(0, str(root))
    _stub_datasets()
    import nltk
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    rouge = importlib.import_module("scrolls_metric.rouge")
    rouge.Pool = lambda: _SerialPool()
    splitter = PunktSentenceTokenizer()
    nltk.sent_tokenize = lambda text, language="english": splitter.tokenize(text)
    scrolls = importlib.import_module("scrolls_metric.scrolls")
    zs = importlib.import_module("zero_scrolls_metric.zero_scrolls_functions")
    return scrolls, zs


# -- case generators ------------------------------------------------------------------------------
def words(rng: random.Random, lo: int, hi: int, pool=WORDS) -> str:
    return " ".join(rng.choice(pool) for _ in range(rng.randint(lo, hi)))


def sentences(rng: random.Random, lo: int, hi: int) -> str:
    out = []
    while sum(len(s.split()) for s in out) < rng.randint(lo, hi):
        s = words(rng, 3, 14)
        out.append(s[:1].upper() + s[1:] + rng.choice([".", ".", "!", "?", ";", "", ". \n", "...", '."']))
    return " ".join(out)


def variant(rng: random.Random, text: str) -> str:
    """A near miss or a normalisation-equivalent of `text`."""
    toks = text.split()
    kind = rng.randrange(9)
    if kind == 0:
        return text.upper()
    if kind == 1:
        return rng.choice(["The ", "a ", "An ", ""]) + text + rng.choice([".", "!", "?", ",", " ."])
    if kind == 2:
        return "  ".join(toks) + "\n"
    if kind == 3 and len(toks) > 1:
        del toks[rng.randrange(len(toks))]
        return " ".join(toks)
    if kind == 4:
        toks.insert(rng.randrange(len(toks) + 1), rng.choice(WORDS))
        return " ".join(toks)
    if kind == 5 and len(toks) > 1:
        i, j = rng.sample(range(len(toks)), 2)
        toks[i], toks[j] = toks[j], toks[i]
        return " ".join(toks)
    if kind == 6:
        return text.replace(" ", rng.choice(["-", ", ", "\t", " the "]))
    if kind == 7:
        return rng.choice(ACCENTED) + " " + text
    return text


def qa_case(rng: random.Random, pool) -> dict:
    refs = [words(rng, 1, 7, pool) for _ in range(rng.choice([1, 1, 2, 3, 4]))]
    kind = rng.randrange(10)
    if kind == 0:
        pred = ""
    elif kind == 1:
        pred = words(rng, 1, 9, pool)
    elif kind == 2:
        pred = rng.choice(refs)
    elif kind == 3:
        pred = rng.choice(["Yes", "no.", "Unanswerable", "Entailment", "not mentioned", "  ", ".,!"])
        refs.append(rng.choice(["yes", "No", "unanswerable", "Not mentioned", "Contradiction"]))
    else:
        pred = variant(rng, rng.choice(refs))
    if rng.random() < 0.15:
        refs.append(sentences(rng, 20, 120))
    return {"prediction": pred, "references": refs}


def summary_case(rng: random.Random, long: bool) -> dict:
    lo, hi = (150, 350) if long else (3, 60)
    refs = [sentences(rng, lo, hi) for _ in range(rng.choice([1, 1, 2, 4]))]
    kind = rng.randrange(8)
    if kind == 0:
        pred = ""
    elif kind == 1:
        pred = sentences(rng, lo, hi)
    elif kind == 2:
        pred = rng.choice(refs)
    else:
        pred = " ".join(variant(rng, s) for s in rng.choice(refs).split(". "))
    if rng.random() < 0.1:
        pred += " " + rng.choice(CHINESE + ACCENTED)
    return {"prediction": pred, "references": refs}


def letter_case(rng: random.Random) -> dict:
    gold = [rng.choice(["A", "B", "C", "D", "(A) the captain", "(B) the council", "C) river", "Answer: D",
                        "(D) No, he worked in the spaceport on Mercury."]) for _ in range(rng.choice([1, 1, 2]))]
    pred = rng.choice(["A", "B", "C", "D", "(A)", "(b)", "a", "", "None", "AB", "D.", "Option C is right",
                       "I think A or B", "The answer is B", "<answer>C</answer>", "ABCD", "A-B", "E", "Answer: C",
                       " (D) the engineer", "B\nA", "CAT", "Ä", "A.", "a. B"])
    return {"prediction": pred, "references": gold}


def percent_case(rng: random.Random) -> dict:
    def pct() -> str:
        return rng.choice([f"{rng.randint(0, 100)}%", f"{rng.uniform(0, 100):.1f}%", f"{rng.randint(0, 100)}.%",
                           "0%", "100%", f"{rng.randint(0, 100)}"])
    gold = [pct() for _ in range(rng.choice([1, 1, 2]))]
    pred = rng.choice([pct(), pct(), f"About {pct()} of the reviews", "0.64", f"{rng.randint(0, 100)} %", "",
                       "%", "none", f"{rng.randint(0, 100)}% and {rng.randint(0, 100)}%", "٣٤%", "１２%",
                       f"-{rng.randint(0, 50)}%", f"{rng.randint(0, 100)}%%", "1e2%"])
    return {"prediction": pred, "references": gold}


def order_case(rng: random.Random) -> dict:
    n = rng.randint(2, 20)
    gold_ids = list(range(1, n + 1))
    rng.shuffle(gold_ids)
    seps = rng.choice([", ", ",", " ", "\n", " , "])
    gold = [seps.join(map(str, gold_ids))]
    pred_ids = list(gold_ids)
    kind = rng.randrange(9)
    if kind in (0, 1, 2):
        rng.shuffle(pred_ids)
    elif kind == 3 and n > 2:
        i, j = rng.sample(range(n), 2)
        pred_ids[i], pred_ids[j] = pred_ids[j], pred_ids[i]
    elif kind == 4:
        pred_ids = pred_ids[:-1]
    elif kind == 5:
        pred_ids = pred_ids + [rng.choice(pred_ids)]
    elif kind == 6:
        pred_ids.reverse()
    text = rng.choice([", ", " ", "; ", "\n", " -> "]).join(map(str, pred_ids))
    pred = rng.choice(["{}", "Order: {}", "[{}]", "The order is {}.", "{} (done)", "Summary {}", "{}"]).format(text)
    if rng.random() < 0.05:
        pred = rng.choice(["", "I cannot tell.", "1, 2, x", "0, 1"])
    return {"prediction": pred, "references": gold}


# -- tables ----------------------------------------------------------------------------------------
def rouge_table(rng: random.Random, scrolls) -> list[dict]:
    helper = scrolls.Scrolls(config_name="gov_report")._compute_helper_kwargs_fn["rouge"]
    cases = [summary_case(rng, long=False) for _ in range(1000)] + [summary_case(rng, long=True) for _ in range(40)]
    for case in cases:
        split = scrolls._compute_helper([case["prediction"]], [case["references"]], **helper())
        plain = scrolls._compute_helper([case["prediction"]], [case["references"]],
                                        **{**helper(), "transform_single_input_fn": None})
        for key in ("rouge1", "rouge2", "rougeL", "geometric_mean"):
            if split[key] != plain[key]:
                raise SystemExit(f"sentence splitting changed {key}: {case}")
        case["expected"] = {k: split[k] for k in ("rouge1", "rouge2", "rougeL", "geometric_mean")}
    return cases


def geometric_table(rng: random.Random, scrolls, rouge_cases: list[dict]) -> list[dict]:
    """Task-level figures of groups of the ROUGE cases: scrolls.py's means and their geometric mean."""
    helper = scrolls.Scrolls(config_name="qmsum")._compute_helper_kwargs_fn["rouge"]
    short = range(1000)  # the long cases would only slow this down
    out = []
    for _ in range(1000):
        idx = [rng.choice(short) for _ in range(rng.randint(1, 8))]
        got = scrolls._compute_helper([rouge_cases[i]["prediction"] for i in idx],
                                      [rouge_cases[i]["references"] for i in idx], **helper())
        out.append({"cases": idx, "expected": {k: got[k] for k in ("rouge1", "rouge2", "rougeL", "geometric_mean")}})
    return out


def main(root: str) -> None:
    scrolls, zs = load_originals(Path(root))
    f1_mod, em_mod = sys.modules["scrolls_metric.f1"], sys.modules["scrolls_metric.exact_match"]
    rng = random.Random(SEED)
    tables: dict[str, list[dict]] = {}
    tables["scrolls_rouge"] = rouge_table(rng, scrolls)
    tables["scrolls_geometric_mean"] = geometric_table(rng, scrolls, tables["scrolls_rouge"])
    for name, fn, pool in [("scrolls_f1", f1_mod.compute_f1, WORDS), ("scrolls_exact_match", em_mod.compute_exact_match, WORDS),
                           ("zero_scrolls_f1", zs.compute_f1, [*WORDS, *ACCENTED, *CHINESE])]:
        cases = [qa_case(rng, pool) for _ in range(1200)]
        for c in cases:
            c["expected"] = fn([c["prediction"]], [c["references"]])
        tables[name] = cases
    for name, make, fn in [("zero_scrolls_accuracy", letter_case, zs.compute_accuracy),
                           ("zero_scrolls_exp_similarity", percent_case, zs.compute_exp_similarity),
                           ("zero_scrolls_concordance_index", order_case, zs.compute_concordance_index)]:
        cases = [make(rng) for _ in range(1200)]
        for c in cases:
            c["expected"] = float(fn([c["prediction"]], [c["references"]]))
        tables[name] = cases
    OUT.mkdir(parents=True, exist_ok=True)
    for name, cases in tables.items():
        body = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases).encode("utf-8")
        with gzip.GzipFile(OUT / f"{name}.jsonl.gz", "wb", compresslevel=9, mtime=0) as fh:  # same bytes every run
            fh.write(body)
        print(f"{name}: {len(cases)} cases")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/parity/scrolls")
