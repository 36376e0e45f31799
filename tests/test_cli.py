import json
import subprocess
import sys

import pytest
from helpers import rows, write
from typer.testing import CliRunner

from toroidal_bench.cli import app

cli = CliRunner()


def run(*args):
    result = cli.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


def test_help_and_list_do_not_import_torch():
    code = ("import sys; from typer.testing import CliRunner; from toroidal_bench.cli import app;"
            "r = CliRunner().invoke(app, ['list', 'encodings']); assert r.exit_code == 0, r.output;"
            "r = CliRunner().invoke(app, ['list', 'tasks']); r = CliRunner().invoke(app, ['--help']);"
            "print(sorted(m for m in ('torch', 'transformers', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("kind, expect", [("tasks", "passkey"), ("encodings", "alibi"), ("suites", "smoke"),
                                          ("models", "random:llama-tiny")])
def test_list(kind, expect):
    r = run("list", kind)
    assert r.exit_code == 0 and expect in r.output


def test_run_task_compare_and_gate_end_to_end(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    for spec, out in (("random:llama-tiny+rope", a), ("random:llama-tiny+alibi", b)):
        r = run("run", "task", "passkey", "--model", spec, "--length", "256", "--limit", "2", "--out", str(out))
        assert r.exit_code == 0, r.output
    r = run("compare", str(a), str(b))
    assert r.exit_code == 0 and "passkey" in r.output and "Δ" in r.output
    r = run("compare", str(a), str(b), "--format", "json")
    data = json.loads(r.output)
    assert {d["column"] for d in data} == {"a", "b"}
    assert run("compare", str(a), str(b), "--format", "csv").output.startswith("task,context_length,metric")
    assert "| task" in run("compare", str(a), str(b), "--format", "markdown").output
    suite = tmp_path / "s.yaml"
    suite.write_text("models: [random:llama-tiny+alibi]\ntasks: [passkey]\nlengths: [256]\n"
                     "gates:\n  - {task: passkey, metric: accuracy, op: '>=', value: 0.0}\n")
    r = run("gate", str(b), "--suite", str(suite))
    assert r.exit_code == 0 and "PASS" in r.output


def test_gate_failure_exits_1(tmp_path):
    f = write(tmp_path / "r.parquet", rows("m", "passkey", 256, "accuracy", [0.0]))
    suite = tmp_path / "s.yaml"
    suite.write_text("models: [random:llama-tiny]\ntasks: [passkey]\nlengths: [256]\n"
                     "gates:\n  - {task: passkey, metric: accuracy, op: '>=', value: 0.5}\n")
    r = run("gate", str(f), "--suite", str(suite))
    assert r.exit_code == 1 and "FAIL" in r.output


def test_gate_with_missing_data_exits_1(tmp_path):
    f = write(tmp_path / "r.parquet", rows("m", "other", 256, "accuracy", [1.0]))
    r = run("gate", str(f), "--suite", "smoke")
    assert r.exit_code == 1 and "FAIL" in r.output and "matching rows" in r.output


def test_failed_cells_exit_3(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("the model broke")

    monkeypatch.setattr("toroidal_bench.evaluate._evaluate_family", boom)
    out = tmp_path / "r.parquet"
    r = run("run", "task", "passkey", "-m", "random:llama-tiny", "-L", "256", "-n", "1", "-o", str(out))
    assert r.exit_code == 3 and "the model broke" in r.output
    assert out.exists()


@pytest.mark.parametrize("args, message", [
    (["run", "suite", "smok"], "did you mean 'smoke'"),
    (["run", "task", "paskey", "-m", "random:llama-tiny", "-L", "256", "-o", "x.parquet"], "did you mean 'passkey'"),
    (["run", "task", "passkey", "-m", "random:llama-tiny+yarn(factor=4", "-L", "256", "-o", "x.parquet"],
     "unbalanced '('"),
    (["run", "task", "passkey", "-m", "random:llama-tiny+alibbi", "-L", "256", "-o", "x.parquet"],
     "did you mean 'alibi'"),
    (["run", "task", "passkey", "-m", "random:llama-tni", "-L", "256", "-o", "x.parquet"], "did you mean 'llama-tiny'"),
    (["compare", "missing.parquet"], "no results file"),
    (["gate", "missing.parquet", "--suite", "smoke"], "no results file"),
    (["run", "task", "passkey", "-m", "random:llama-tiny", "-L", "256", "-o", "x.csv"], "must end in .parquet"),
])
def test_bad_input_exits_2_with_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert len([ln for ln in r.output.splitlines() if ln.startswith("error:")]) == 1


def test_corrupt_parquet_and_malformed_yaml_exit_2(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"garbage")
    assert run("compare", str(bad)).exit_code == 2
    suite = tmp_path / "s.yaml"
    suite.write_text("models: [a\n  tasks: : :")
    r = run("run", "suite", str(suite), "-o", str(tmp_path / "o.parquet"))
    assert r.exit_code == 2 and "malformed YAML" in r.output


def test_unwritable_output_exits_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = run("run", "task", "passkey", "-m", "random:llama-tiny", "-L", "256", "-o", str(blocker / "x.parquet"))
    assert r.exit_code == 2 and "cannot write" in r.output


def test_debug_shows_the_traceback_and_keeps_the_exit_code(tmp_path):
    r = cli.invoke(app, ["--debug", "compare", str(tmp_path / "missing.parquet")])
    assert r.exit_code == 2 and "Traceback" in r.output and "ResultsError" in r.output


def test_doctor(tmp_path):
    r = run("doctor")
    assert r.exit_code == 0 and "torch" in r.output and "flash-attn" in r.output


def test_every_command_translates_errors():
    import typer.main

    group = typer.main.get_command(app)
    commands = []
    for cmd in group.commands.values():
        commands += list(cmd.commands.values()) if hasattr(cmd, "commands") else [cmd]
    assert len(commands) >= 7
    for cmd in commands:
        fn, wrapped = cmd.callback, False
        while fn is not None and not wrapped:
            wrapped = getattr(fn, "translates_errors", False)
            fn = getattr(fn, "__wrapped__", None)
        assert wrapped, f"{cmd.name} is not wrapped by handles_errors"


def test_diagnose_bad_encoding_exits_2(tmp_path):
    r = run("diagnose", "pi-spirl(const=pi)", "--out", str(tmp_path))
    assert r.exit_code == 2 and "did you mean 'pi-spiral'" in r.output


def test_compare_shows_bracketed_column_labels_verbatim(tmp_path):
    f = write(tmp_path / "run.parquet", rows("m+rope", "t", 256, "acc", [1.0]) + rows("m+alibi", "t", 256, "acc", [0.0]))
    r = cli.invoke(app, ["compare", str(f)], terminal_width=250)
    assert "m+rope" in r.output and "m+alibi" in r.output
