"""gate for CI: use_ci gates, each gate's own baseline beside its suite, and the output formats
(table at 80 columns, JUnit XML read back, JSON, markdown), with bad input one line and exit 2."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import rows, write
from typer.testing import CliRunner

from toroidal_bench import results
from toroidal_bench.cli import app
from toroidal_bench.errors import UsageError
from toroidal_bench.gates import evaluate, parse_gates

ROOT = Path(__file__).resolve().parents[1]
LONG = "random:llama-tiny+yarn(factor=4.0,original_max_position_embeddings=128)"
SHORT = "random:llama-tiny+alibi"
cli = CliRunner()


def tbench(*args, code=0):
    r = cli.invoke(app, [str(a) for a in args])
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output
    return r.output


def gates(*items):
    return parse_gates(list(items), "test")


def df(tmp_path, rs, name):
    return results.read(write(tmp_path / name, rs))


# -- use_ci -------------------------------------------------------------------------------------------

def test_use_ci_passes_while_the_ci_of_the_drop_reaches_max_drop(tmp_path):
    base = df(tmp_path, rows("m", "t", 256, "acc", [1] * 10), "base.parquet")
    noisy = df(tmp_path, rows("m", "t", 256, "acc", [1] * 8 + [0] * 2), "noisy.parquet")  # drop 0.2, CI [0, 0.5]
    plain, ci = gates({"task": "t", "metric": "acc", "max_drop": 0.1},
                      {"task": "t", "metric": "acc", "max_drop": 0.1, "use_ci": True})
    (v,) = evaluate([plain], noisy, base)
    assert not v.passed and "dropped 0.2" in v.reason
    (v,) = evaluate([ci], noisy, base)
    assert v.passed and v.ci[0] <= -0.1 <= v.ci[1] and v.paired == 10
    assert "but its 95% CI" in v.reason and "reaches 0.1" in v.reason  # why it passed
    assert v.required() == "CI high >= 0.9"


def test_use_ci_fails_when_the_whole_ci_lies_beyond_max_drop(tmp_path):
    base = df(tmp_path, rows("m", "t", 256, "acc", [1] * 20), "base.parquet")
    broken = df(tmp_path, rows("m", "t", 256, "acc", [1] * 4 + [0] * 16), "broken.parquet")
    (v,) = evaluate(gates({"task": "t", "metric": "acc", "max_drop": 0.1, "use_ci": True}), broken, base)
    assert not v.passed and "lies wholly beyond 0.1" in v.reason
    assert v.ci[1] < -0.1 and v.delta == pytest.approx(-0.8)


def test_use_ci_follows_the_direction_of_perplexity(tmp_path):
    from test_perplexity_compare import ppl_rows

    base = df(tmp_path, ppl_rows("m", [100.0, 200.0, 300.0, 400.0], [50, 100, 150, 200]), "base.parquet")
    worse = df(tmp_path, ppl_rows("m", [150.0, 290.0, 460.0, 590.0], [50, 100, 150, 200]), "worse.parquet")
    g = gates({"task": "wikitext2", "metric": "perplexity", "max_drop": 0.5, "use_ci": True})
    (v,) = evaluate(g, worse, base)
    assert not v.passed and "rose" in v.reason and v.ci[0] > 0.5  # every document rose: the whole CI
    assert v.required().startswith("CI low <= ")
    (same,) = evaluate(g, base, base)
    assert same.passed and same.ci == (0.0, 0.0)


def test_use_ci_without_paired_samples_fails(tmp_path):
    base = df(tmp_path, rows("m", "t", 256, "acc", [1, 1, 1], prefix="x"), "base.parquet")
    other = df(tmp_path, rows("m", "t", 256, "acc", [1, 1, 1], prefix="y"), "other.parquet")  # other sample ids
    (v,) = evaluate(gates({"task": "t", "metric": "acc", "max_drop": 0.1, "use_ci": True}), other, base)
    assert not v.passed and "paired with the baseline" in v.reason and v.paired == 0


@pytest.mark.parametrize("bad, msg", [
    ({"task": "t", "metric": "a", "max_drop": 0.1, "use_ci": "yes"}, "use_ci must be true or false"),
    ({"task": "t", "metric": "a", "max_drop": 0.1, "use_ci": 1}, "use_ci must be true or false"),
    ({"task": "t", "metric": "a", "op": ">=", "value": 1, "use_ci": True}, "use_ci applies to max_drop gates"),
    ({"task": "t", "metric": "a", "max_drop": 0.1, "use_cl": True}, "unknown keys: use_cl"),
])
def test_use_ci_is_validated_like_every_gate_key(bad, msg):
    with pytest.raises(UsageError, match=msg):
        parse_gates([bad], "suite.yaml")


def test_use_ci_false_is_a_plain_max_drop_gate():
    (g,) = gates({"task": "t", "metric": "a", "max_drop": 0.1, "use_ci": False})
    assert not g.use_ci and g.describe() == "t/a drop ≤ 0.1"


# -- a suite with its baselines beside it ---------------------------------------------------------------

@pytest.fixture
def suite(tmp_path):
    """A suite in its own folder whose max_drop gates name baselines by paths relative to that folder,
    a current run that fails the long spec's gates, and a working directory elsewhere."""
    home = tmp_path / "project" / "suites"
    home.mkdir(parents=True)
    write(home / "base.parquet", rows(LONG, "passkey", 256, "accuracy", [1] * 10)
          + rows(SHORT, "passkey", 256, "accuracy", [1] * 9 + [0], cell="d"))
    (home / "old").mkdir()
    write(home / "old" / "base.parquet", rows(LONG, "passkey", 256, "accuracy", [0.5] * 10)
          + rows(SHORT, "passkey", 256, "accuracy", [0.5] * 10, cell="d"))
    path = home / "s.yaml"
    path.write_text(f"""models: ["{LONG}", "{SHORT}"]
tasks: [passkey]
lengths: [256]
gates:
  - {{task: passkey, metric: accuracy, context_length: 256, op: ">=", value: 0.8}}
  - {{task: passkey, metric: accuracy, max_drop: 0.1, baseline: base.parquet}}
  - {{task: passkey, metric: accuracy, max_drop: 0.1, baseline: base.parquet, use_ci: true}}
  - {{task: passkey, metric: accuracy, max_drop: 0.1, baseline: old/base.parquet}}
""")
    cur = write(tmp_path / "cur.parquet", rows(LONG, "passkey", 256, "accuracy", [1] * 7 + [0] * 3)
                + rows(SHORT, "passkey", 256, "accuracy", [1] * 8 + [0] * 2, cell="d"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return path, cur, elsewhere


def test_baselines_are_read_beside_the_suite_and_each_gate_reads_its_own(suite, monkeypatch):
    path, cur, elsewhere = suite
    monkeypatch.chdir(elsewhere)
    report = json.loads(tbench("gate", cur, "--suite", path, "--format", "json", code=1))
    by = {(v["gate"], Path(v["baseline"] or "").parent.name, v["model_spec"]): v for v in report["verdicts"]}
    drop = "passkey/accuracy drop ≤ 0.1"
    assert by[(drop, "suites", LONG)]["baseline_value"] == 1.0 and not by[(drop, "suites", LONG)]["passed"]
    assert by[(drop, "suites", SHORT)]["baseline_value"] == 0.9 and by[(drop, "suites", SHORT)]["passed"]
    assert by[(drop + " (CI)", "suites", LONG)]["passed"]  # a drop of 0.3 on ten samples: its CI reaches 0.1
    old = [by[(drop, "old", spec)] for spec in (LONG, SHORT)]
    assert [v["baseline_value"] for v in old] == [0.5, 0.5] and all(v["passed"] for v in old)
    assert not report["passed"] and report["suite"] == "s"


def test_the_baseline_option_replaces_every_gates_baseline(suite, tmp_path):
    path, cur, _ = suite
    report = json.loads(tbench("gate", cur, "--suite", path, "--baseline", cur, "--format", "json", code=1))
    relative = [v for v in report["verdicts"] if v["max_drop"] is not None]
    assert all(v["passed"] and v["delta"] == 0 for v in relative)  # the run against itself
    absolute = {v["model_spec"]: v["passed"] for v in report["verdicts"] if v["op"]}
    assert absolute == {LONG: False, SHORT: True}  # 0.7 and 0.8 against >= 0.8


def test_junit_has_one_testcase_per_gate_and_spec_and_failures_say_why(suite):
    path, cur, _ = suite
    root = ET.fromstring(tbench("gate", cur, "--suite", path, "--format", "junit", code=1))
    assert root.tag == "testsuites" and (root.get("tests"), root.get("failures")) == ("8", "2")
    (ts,) = root.findall("testsuite")
    cases = ts.findall("testcase")
    assert len(cases) == 8 and all(c.get("classname") == "tbench.gate.s" for c in cases)
    failed = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert set(failed) == {f"passkey/accuracy@256 >= 0.8 · {LONG}", f"passkey/accuracy drop ≤ 0.1 · {LONG}"}
    absolute = failed[f"passkey/accuracy@256 >= 0.8 · {LONG}"]
    assert absolute.get("message") == "observed 0.7, required >= 0.8: 0.7 is not >= 0.8"
    assert "observed: 0.7" in absolute.text and "required: >= 0.8" in absolute.text and LONG in absolute.text
    assert failed[f"passkey/accuracy drop ≤ 0.1 · {LONG}"].get("message").startswith("observed 0.7, required >= 0.9")
    passed_ci = next(c for c in cases if c.get("name") == f"passkey/accuracy drop ≤ 0.1 (CI) · {LONG}")
    assert passed_ci.find("failure") is None and "CI of observed − baseline" in passed_ci.find("system-out").text
    assert ts.find("properties/property").get("value") == str(cur)


def test_junit_on_missing_data_fails_every_gate(tmp_path):
    f = write(tmp_path / "r.parquet", rows("m", "other", 256, "accuracy", [1.0]))
    root = ET.fromstring(tbench("gate", f, "--suite", "smoke", "--format", "junit", code=1))
    cases = root.findall("testsuite/testcase")
    assert cases and all(c.find("failure") is not None for c in cases)
    assert "no matching rows" in cases[0].find("failure").get("message")


def test_passing_gates_exit_0_in_every_format(tmp_path):
    f = write(tmp_path / "r.parquet", rows("m", "passkey", 256, "accuracy", [1.0, 1.0]))
    s = tmp_path / "s.yaml"
    s.write_text("models: [random:llama-tiny]\ntasks: [passkey]\nlengths: [256]\n"
                 "gates:\n  - {task: passkey, metric: accuracy, op: '>=', value: 0.5}\n")
    assert ET.fromstring(tbench("gate", f, "--suite", s, "--format", "junit")).get("failures") == "0"
    assert json.loads(tbench("gate", f, "--suite", s, "--format", "json"))["passed"] is True
    assert "1 of 1 passed" in tbench("gate", f, "--suite", s, "--format", "markdown")
    assert "PASS" in tbench("gate", f, "--suite", s)


def test_markdown_is_a_table_for_a_step_summary(suite):
    path, cur, _ = suite
    out = tbench("gate", cur, "--suite", path, "--format", "markdown", code=1)
    lines = out.splitlines()
    assert lines[0].startswith("**gates**") and "6 of 8 passed" in lines[0]
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 2 + 8
    assert all(line.count(" | ") == table[0].count(" | ") for line in table[2:])
    assert any("❌" in line and f"`{LONG}`" in line and "FAIL: 0.7 is not >= 0.8" in line for line in table)


def test_at_80_columns_the_table_wraps_and_shows_every_gate_and_spec_whole(suite):
    path, cur, _ = suite
    env = dict(os.environ, COLUMNS="80", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "toroidal_bench", "gate", str(cur), "--suite", str(path)],
                       capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert max(map(len, lines)) <= 80 and "…" not in r.stdout
    for text in ("passkey/accuracy@256 >= 0.8", "passkey/accuracy drop ≤ 0.1 (CI)", LONG, SHORT,
                 "dropped 0.3 from baseline 1"):
        assert any(text in line for line in lines), text
    assert "6 of 8 passed" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["--format", "xml"], "unknown format 'xml'"),
    (["--format", "junt"], "did you mean 'junit'"),
])
def test_an_unknown_format_is_one_line_exit_2(suite, args, message):
    path, cur, _ = suite
    out = tbench("gate", cur, "--suite", path, *args, code=2)
    assert message in out and out.startswith("error:") and len(out.strip().splitlines()) == 1


@pytest.mark.parametrize("fmt", ["table", "junit", "json", "markdown"])
def test_unreadable_results_or_baseline_are_one_line_exit_2(suite, tmp_path, fmt):
    path, cur, _ = suite
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"garbage")
    for args in ([bad, "--suite", path], [cur, "--suite", path, "--baseline", tmp_path / "missing.parquet"]):
        out = tbench("gate", *args, "--format", fmt, code=2)
        assert out.startswith("error:") and len(out.strip().splitlines()) == 1  # and no half-written XML
