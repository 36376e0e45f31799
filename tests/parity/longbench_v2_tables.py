"""Known-answer tables for LongBench v2's answer extraction and result table, from the original code.

Draws model outputs with a fixed seed (well-formed answers, markdown bold, lower case, letters outside
A-D, colons, newlines, full-width brackets, several answers, the template's own placeholder, Chinese
and long reasoning, empty and whitespace-only outputs) and writes to tests/fixtures/parity/longbench_v2/:

  extract_answer.jsonl.gz  one object per output: {"output", "expected"}, where expected is pred.py's
                           `pred`, i.e. extract_answer(output.strip()) (null for None);
  result_table.jsonl.gz    one object per results file: {"records": [{"difficulty", "length", "answer",
                           "output"}], "expected": {"Overall", "Easy", "Hard", "Short", "Medium", "Long"}},
                           the row result.py writes for that file.

The original is THUDM/LongBench @2e00731f8d0bff23dc4325161044d0ed8af94c1e, files pred.py and result.py
(repository top level), run on CPython 3.11. To regenerate:

    mkdir -p /work/parity/longbench_v2
    git -C THUDM+LongBench show 2e00731:pred.py > /work/parity/longbench_v2/pred.py
    git -C THUDM+LongBench show 2e00731:result.py > /work/parity/longbench_v2/result.py
    /work/parity/venv/bin/python tests/parity/longbench_v2_tables.py /work/parity/longbench_v2

extract_answer is taken out of pred.py unchanged and run on its own: the module imports openai,
tiktoken, torch and datasets at the top, none of which the function uses. result.py runs unchanged,
as a script, in a scratch folder whose results/ holds one JSONL file per table written as pred.py
writes them (the record plus response, pred and judge). pred.py writes no record whose output is ''
(an API failure there), so outputs that are exactly '' appear in the extraction table only.
This file imports nothing from toroidal_bench.
"""

from __future__ import annotations

import ast
import gzip
import json
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "parity" / "longbench_v2"
SEED = 20241219
OUTPUTS = 2000
TABLES = 60
COLUMNS = ("Overall", "Easy", "Hard", "Short", "Medium", "Long")

WORDS = ("the text says that the committee approved a budget for the bridge but the report from the second "
         "chapter contradicts this because the author later explains that the vote was postponed so option "
         "which mentions delay fits best although another reading is possible given the appendix").split()
CHINESE = ("根据文章内容", "第二段提到", "因此", "作者认为", "综上所述", "正确答案是")
ODD_LETTERS = ("E", "F", "a", "b", "d", "AB", "1", "A/B", "", " ")


def original_extract_answer(folder: Path):
    """pred.py's extract_answer, compiled from its own source (the module's heavy imports skipped)."""
    tree = ast.parse((folder / "pred.py").read_text(encoding="utf-8"))
    (node,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "extract_answer"]
    namespace: dict = {"re": re}
    exec(compile(ast.Module(body=[node], type_ignores=[]), str(folder / "pred.py"), "exec"), namespace)
    return namespace["extract_answer"]


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def letter(rng: random.Random, right: str | None = None) -> str:
    if right is not None and rng.random() < 0.5:
        return right
    return rng.choice("ABCD") if rng.random() < 0.8 else rng.choice(ODD_LETTERS)


def phrase(rng: random.Random, x: str) -> str:
    """One way of stating an answer, well-formed or not."""
    y = rng.choice("ABCD")
    forms = [
        f"The correct answer is ({x})", f"The correct answer is ({x})", f"The correct answer is ({x}).",
        f"The correct answer is {x}", f"The correct answer is {x}.", f"The correct answer is {x})",
        f"**The correct answer is ({x})**", f"The correct answer is **({x})**", f"The correct answer is *{x}*",
        f"*The correct* answer is ({x})", f"The correct answer is ({x}**)", f"**The correct answer is:** ({x})",
        f"the correct answer is ({x})", f"THE CORRECT ANSWER IS ({x})", f"The Correct Answer Is ({x})",
        f"The correct answer is: ({x})", f"The correct answer is\n({x})", f"The correct answer is  ({x})",
        f"The correct answer is ({x.lower()})", f"The correct answer is （{x}）", f"The correct answer is option {x}",
        f"The correct answer is ( {x} )", f"The correct answer is [{x}]", f'The correct answer is "({x})"',
        f"The correct answer is ({x}) or ({y})", f"The correct answer is {x}{rng.choice(['pple', 'nd', 'ecause'])}",
        f"Answer: ({x})", f"({x})", f"{x}", f"Option {x} is correct.", "The correct answer is (insert answer here)",
        f"The correct answer is {y}, no wait, The correct answer is ({x})",
        f"The correct answer is ({x}) ... on reflection The correct answer is ({y})",
        f"{rng.choice(CHINESE)}（{x}）", f"正确答案是 The correct answer is ({x})",
        f"The correct answer is ({x})\nThe correct answer is {y}",
    ]
    return rng.choice(forms)


def output(rng: random.Random, right: str | None = None) -> str:
    """A model output: often reasoning around one or two answer statements; sometimes nothing at all."""
    roll = rng.random()
    if roll < 0.03:
        return rng.choice(["", "", " ", "\n", "\n\n  ", "I cannot determine the answer from the text."])
    parts = []
    if rng.random() < 0.5:
        parts.append(words(rng, rng.choice([5, 20, 60, 1500 if rng.random() < 0.05 else 80])) + ".")
    if rng.random() < 0.1:
        parts.append("".join(rng.choice(CHINESE) for _ in range(rng.randint(1, 6))) + "。")
    parts.append(phrase(rng, letter(rng, right)))
    if rng.random() < 0.2:
        parts.append(phrase(rng, letter(rng, right)))
    if rng.random() < 0.3:
        parts.append(rng.choice(["Explanation: ", "Because ", "\n\n"]) + words(rng, rng.randint(3, 40)))
    text = rng.choice([" ", "\n", "\n\n", ""]).join(parts)
    return rng.choice(["", "", " ", "\n", "  \n"]) + text + rng.choice(["", "", "\n", " "])


def table_records(rng: random.Random) -> list[dict]:
    """One results file's records; every class present, as result.py divides by each class's count."""
    n = rng.randint(5, 80)
    difficulties = ["easy", "hard"] + [rng.choice(["easy", "hard"]) for _ in range(n - 2)]
    lengths = ["short", "medium", "long"] + [rng.choice(["short", "medium", "long"]) for _ in range(n - 3)]
    rng.shuffle(difficulties)
    rng.shuffle(lengths)
    records = []
    for d, length in zip(difficulties, lengths, strict=True):
        answer = rng.choice("ABCD")
        text = output(rng, answer)
        while text == "":  # pred.py never writes these
            text = output(rng, answer)
        records.append({"difficulty": d, "length": length, "answer": answer, "output": text})
    return records


def original_rows(folder: Path, tables: list[list[dict]], extract) -> list[dict]:
    """result.py's row for each table, run in a scratch folder on files written as pred.py writes them."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "results").mkdir()
        for t, records in enumerate(tables):
            with open(root / "results" / f"table{t:03d}.jsonl", "w", encoding="utf-8") as fh:
                for i, r in enumerate(records):
                    item = {"_id": f"t{t}-{i}", "difficulty": r["difficulty"], "length": r["length"],
                            "answer": r["answer"]}
                    item["response"] = r["output"].strip()
                    item["pred"] = extract(item["response"])
                    item["judge"] = item["pred"] == item["answer"]
                    fh.write(json.dumps(item, ensure_ascii=False) + "\n")
        (root / "result.py").write_text((folder / "result.py").read_text(encoding="utf-8"), encoding="utf-8")
        subprocess.run([sys.executable, "result.py"], cwd=root, check=True)
        lines = (root / "result.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == ["Model", *COLUMNS], lines[0]
    rows = {}
    for line in lines[1:]:
        name, *values = line.split("\t")
        rows[name] = dict(zip(COLUMNS, map(float, values), strict=True))
    return [rows[f"table{t:03d}"] for t in range(len(tables))]


def write(name: str, cases: list[dict]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with gzip.open(OUT / name, "wt", encoding="utf-8", compresslevel=9) as fh:
        for case in cases:
            fh.write(json.dumps(case, ensure_ascii=False, sort_keys=True) + "\n")


def main(folder: Path) -> None:
    extract = original_extract_answer(folder)
    rng = random.Random(SEED)
    outputs = [output(rng) for _ in range(OUTPUTS)]
    write("extract_answer.jsonl.gz", [{"output": o, "expected": extract(o.strip())} for o in outputs])
    tables = [table_records(rng) for _ in range(TABLES)]
    expected = original_rows(folder, tables, extract)
    write("result_table.jsonl.gz", [{"records": r, "expected": e} for r, e in zip(tables, expected, strict=True)])
    found = sum(extract(o.strip()) is not None for o in outputs)
    print(f"extract_answer: {len(outputs)} outputs ({found} with a letter); result_table: {len(tables)} tables, "
          f"{sum(map(len, tables))} records")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
