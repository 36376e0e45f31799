"""compare for papers and for humans: columns named by model spec (a legend when long), task names,
the pivot formats (markdown, latex, csv), the long formats (long, json), --reference, bad input."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import rows, write
from typer.testing import CliRunner

from toroidal_bench.cli import app
from toroidal_bench.compare import compare, pivot, task_names

ROOT = Path(__file__).resolve().parents[1]
LONG = "random:llama-tiny+yarn(factor=4.0,original_max_position_embeddings=128)"
cli = CliRunner()


def tbench(*args, code=0):
    r = cli.invoke(app, [str(a) for a in args])
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output
    return r.output


def tbench_at_80(*args):
    """The real command line in a console 80 columns wide, as a CI log is."""
    env = dict(os.environ, COLUMNS="80", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "toroidal_bench", *map(str, args)], capture_output=True, text=True,
                       env=env, cwd=ROOT)
    return r.returncode, r.stdout, r.stderr


@pytest.fixture
def runs(tmp_path):
    """Two files: a reference run of two specs, one of them long, and a run of a third spec."""
    a = write(tmp_path / "a.parquet", rows("m+rope", "passkey", 512, "accuracy", [1, 0, 1, 1])
              + rows(LONG, "passkey", 512, "accuracy", [1, 1, 1, 1], cell="y")
              + rows("m+rope", "passkey", 1024, "accuracy", [0, 0, 1, 0]))
    b = write(tmp_path / "b.parquet", rows("m+alibi", "passkey", 512, "accuracy", [1, 1, 1, 0])
              + rows("m+alibi", "passkey", 1024, "accuracy", [1, 1, 1, 1]))
    return a, b


def test_columns_are_named_by_spec_and_a_repeated_spec_by_its_file(tmp_path, runs):
    t = compare(list(runs))
    assert t.attrs["headings"] == {"a[m+rope]": "m+rope", f"a[{LONG}]": LONG, "b": "m+alibi"}
    c = write(tmp_path / "c.parquet", rows("m+alibi", "passkey", 512, "accuracy", [0, 0, 0, 0]))
    again = compare([runs[1], c])
    assert list(again.attrs["headings"].values()) == ["m+alibi (b)", "m+alibi (c)"]


def test_lm_eval_tasks_given_by_yaml_path_show_by_name():
    names = task_names(["lm-eval:/home/me/tasks/my_task.yaml", "passkey", "lm-eval:hellaswag", "old/path/qa.yml"])
    assert names == {"lm-eval:/home/me/tasks/my_task.yaml": "lm-eval:my_task", "passkey": "passkey",
                     "lm-eval:hellaswag": "lm-eval:hellaswag", "old/path/qa.yml": "qa"}
    clash = task_names(["lm-eval:a/x.yaml", "lm-eval:b/x.yaml"])  # two files of one name stay told apart
    assert clash == {"lm-eval:a/x.yaml": "lm-eval:a/x.yaml", "lm-eval:b/x.yaml": "lm-eval:b/x.yaml"}


def test_the_table_shows_the_task_name(tmp_path):
    a = write(tmp_path / "a.parquet", rows("m", "lm-eval:/somewhere/deep/tasks/my_task.yaml", 256, "acc", [1.0]))
    out = tbench("compare", a)
    assert "lm-eval:my_task" in out and "somewhere" not in out


def test_csv_is_a_pivot_with_numbers(runs):
    out = tbench("compare", *runs, "--format", "csv")
    p = pd.read_csv(io.StringIO(out))
    assert list(p.columns[:5]) == ["task", "context_length", "metric", "m+rope", LONG]  # a spec's commas are quoted
    assert list(p.columns[5:]) == [f"{LONG} delta", f"{LONG} ci_low", f"{LONG} ci_high",
                                   "m+alibi", "m+alibi delta", "m+alibi ci_low", "m+alibi ci_high"]
    assert p["context_length"].tolist() == [512, 1024]
    assert p["m+rope"].tolist() == [0.75, 0.25] and p["m+alibi"].tolist() == [0.75, 1.0]
    assert p["m+alibi delta"].tolist() == [0.0, 0.75]
    assert p[f"{LONG} delta"].isna().tolist() == [False, True]  # LONG has no 1024 row
    long = compare(list(runs))
    alibi = long[(long.model_spec == "m+alibi") & (long.context_length == 1024)].iloc[0]
    assert p["m+alibi ci_low"][1] == pytest.approx(alibi.ci_low, rel=1e-5)


def test_markdown_is_a_pivot_with_deltas_and_cis(runs):
    out = tbench("compare", *runs, "--format", "markdown")
    table = [line for line in out.splitlines() if line.startswith("|")]
    header, rule, *body = table
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells == ["task", "length", "metric", "[1]", "[2]", "[3]"]  # a long spec: keys and a legend
    assert rule.startswith("|:---") and len(body) == 2
    first = [c.strip() for c in body[0].strip("|").split("|")]
    assert first[:4] == ["passkey", "512", "accuracy ↑", "0.75"]
    assert first[4].startswith("1 (+0.25 [") and first[5].startswith("0.75 (+0 [")
    assert f"- [2] `{LONG}`" in out and "- [1] `m+rope`" in out
    assert "95% paired-bootstrap CI" in out


def test_markdown_escapes_a_pipe_in_a_spec(tmp_path):
    spec = "m+x(e=rope|alibi)"
    a = write(tmp_path / "a.parquet", rows("m", "t", 256, "acc", [1.0, 0.0]))
    b = write(tmp_path / "b.parquet", rows(spec, "t", 256, "acc", [1.0, 1.0]))
    header = tbench("compare", a, b, "--format", "markdown").splitlines()[0]
    assert "rope\\|alibi" in header
    assert len(header.replace("\\|", "").strip("|").split("|")) == 5  # still five cells


def test_latex_escapes_every_spec_and_task(tmp_path):
    spec = "local:/runs/my_run#1&x%~^{v}"
    a = write(tmp_path / "a.parquet", rows(spec, "pass_key", 512, "accuracy", [1.0, 0.0]))
    b = write(tmp_path / "b.parquet", rows(LONG, "pass_key", 512, "accuracy", [1.0, 1.0]))
    out = tbench("compare", a, b, "--format", "latex")
    assert "\\toprule" in out and "\\bottomrule" in out and "usepackage{booktabs}" in out
    assert r"pass\_key" in out and r"accuracy $\uparrow$" in out and r"95\%" in out
    assert r"\texttt{local:/runs/my\_run\#1\&x\%\textasciitilde \textasciicircum \{v\}}" in out
    assert r"{[2]} & \texttt{" + LONG.replace("_", r"\_") + "}" in out
    # every row of each tabular has as many unescaped & as its column count less one
    for tabular in out.split("\\begin{tabular}")[1:]:
        spec_cols = tabular[1:tabular.index("}")]
        body = tabular[tabular.index("}") + 1:tabular.index("\\end{tabular}")]
        for line in body.splitlines():
            if line.endswith("\\\\"):
                assert line.replace("\\&", "").count("&") == len(spec_cols) - 1, line
    assert "\\\\\n[" not in out  # no row starts with '[' (LaTeX would read it as \\[length])


def test_long_and_json_are_the_tidy_table(runs):
    long = pd.read_csv(io.StringIO(tbench("compare", *runs, "--format", "long")))
    frame = compare(list(runs))
    assert list(long.columns) == list(frame.columns) and len(long) == len(frame)
    assert set(long["model_spec"]) == {"m+rope", LONG, "m+alibi"}
    records = json.loads(tbench("compare", *runs, "--format", "json"))
    assert len(records) == len(frame) and records[0]["column"] == "a[m+rope]"


def test_by_position_metrics_get_rows_with_their_positions(tmp_path):
    from test_perplexity_compare import ppl_rows

    a = write(tmp_path / "a.parquet", ppl_rows("a", [100.0, 200.0], [50, 100], positions=[(1, 2, [3.0, 3.2])]))
    b = write(tmp_path / "b.parquet", ppl_rows("b", [80.0, 190.0], [50, 100], positions=[(1, 2, [2.0, 2.2])]))
    p = pivot(compare([a, b]))
    assert p["metric"].tolist() == ["perplexity", "nll_per_token"]  # counts (nll, tokens) are left out
    assert p["position"].isna().tolist() == [True, False] and p["position_end"].tolist()[1] == 2
    md = tbench("compare", a, b, "--format", "markdown")
    assert "| positions" in md and "[1, 2)" in md and "tokens" not in md


def test_reference_picks_the_column_compared_against(runs):
    t = compare(list(runs), reference="m+alibi")
    assert t.attrs["columns"][0] == "b" and t[t.model_spec == "m+alibi"].delta.isna().all()
    out = tbench("compare", *runs, "--reference", "m+alibi", "--format", "csv")
    assert out.startswith("task,context_length,metric,m+alibi,m+rope,m+rope delta")
    err = tbench("compare", *runs, "--reference", "m+alibbi", code=2)
    assert "unknown reference 'm+alibbi'" in err and "did you mean 'm+alibi'" in err


@pytest.mark.parametrize("args, message", [
    (["--format", "xlsx"], "unknown format 'xlsx'"),
    (["--format", "markdwn"], "did you mean 'markdown'"),
])
def test_an_unknown_format_is_one_line_exit_2(runs, args, message):
    out = tbench("compare", *runs, *args, code=2)
    assert message in out and len(out.strip().splitlines()) == 1 and out.startswith("error:")


@pytest.mark.parametrize("fmt", ["table", "markdown", "latex", "csv", "long", "json"])
def test_an_unreadable_file_is_one_line_exit_2_in_every_format(tmp_path, fmt):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    out = tbench("compare", bad, "--format", fmt, code=2)
    assert out.startswith("error:") and len(out.strip().splitlines()) == 1 and "not a readable Parquet" in out


def test_specs_with_brackets_show_verbatim(tmp_path):
    spec = "local:/ckpt/[bold]run[/bold]"
    f = write(tmp_path / "run.parquet", rows("m+rope", "t", 256, "acc", [1.0]) + rows(spec, "t", 256, "acc", [0.0]))
    assert spec in tbench("compare", f)


def test_at_80_columns_long_specs_get_a_legend_and_nothing_is_cut(runs):
    code, out, err = tbench_at_80("compare", *runs)
    assert code == 0, err
    assert max(map(len, out.splitlines())) <= 80
    header = next(line for line in out.splitlines() if "task" in line and "metric" in line)
    assert "[1]" in header and "[3]" in header
    legend = out.splitlines()[-3:]
    assert legend == ["[1] m+rope", f"[2] {LONG}", "[3] m+alibi"]  # each spec whole, on its own line
    assert "…" not in out


def test_at_80_columns_short_specs_head_their_columns(tmp_path):
    a = write(tmp_path / "a.parquet", rows("ref:rope", "passkey", 512, "accuracy", [1, 0, 1, 1]))
    b = write(tmp_path / "b.parquet", rows("ref:toroidal-d1", "passkey", 512, "accuracy", [1, 1, 1, 0]))
    code, out, err = tbench_at_80("compare", a, b)
    assert code == 0, err
    header = next(line for line in out.splitlines() if "task" in line and "metric" in line)
    assert "ref:rope" in header and "ref:toroidal-d1" in header and "[1]" not in out
