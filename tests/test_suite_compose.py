"""Suite composition: grid, per-task settings, extends, profiles, --set and --models; bad input refused
in one line with exit 2; every built-in suite and profile loads."""

import json
import time

import pytest
from typer.testing import CliRunner

from toroidal_bench.cli import app
from toroidal_bench.errors import UsageError
from toroidal_bench.suites import load_suite, suite_cells, suite_files

cli = CliRunner()
BASE = "models: [random:llama-tiny]\ntasks: [passkey]\nlengths: [256]\n"


def _write(tmp_path, text, name="s.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _refused(tmp_path, text, msg, **kwargs):
    with pytest.raises(UsageError) as info:
        load_suite(_write(tmp_path, text), **kwargs)
    assert msg in info.value.line(), info.value.line()


def test_grid_expands_models_times_encodings(tmp_path):
    s = load_suite(_write(tmp_path, "grid: {models: [random:llama-tiny, random:qwen2-tiny], "
                                    "encodings: [rope, 'yarn(factor=4)', alibi]}\ntasks: [passkey]\nlengths: [256]\n"))
    assert s.models[:3] == ("random:llama-tiny+rope", "random:llama-tiny+yarn(factor=4)", "random:llama-tiny+alibi")
    assert len(s.models) == 6


def test_per_task_lengths_limit_and_params(tmp_path):
    s = load_suite(_write(tmp_path, "models: [random:llama-tiny]\nlengths: [256]\nlimit: 3\ntasks:\n"
                                    "  - passkey\n  - {task: niah, lengths: [512, 1024], limit: 1, params: {depth_percents: [50]}}\n"
                                    "gates: [{task: niah, metric: keyword_recall, context_length: 1024, op: '>=', value: 0}]\n"))
    cells = suite_cells(s)
    assert {(c.task.name, c.length, c.limit) for c in cells} == {("passkey", 256, 3), ("niah", 512, 1), ("niah", 1024, 1)}
    assert [c.params for c in cells if c.task.name == "niah"][0]["depth_percents"] == [50]
    assert {c.limit for c in suite_cells(s, limit=2)} == {2}


def test_extends_merges_keys_and_replaces_lists(tmp_path):
    _write(tmp_path, BASE + "limit: 4\nparams: {num_samples: 5, key_digits: 3}\n", "parent.yaml")
    s = load_suite(_write(tmp_path, "extends: parent\nlengths: [512]\nparams: {num_samples: 6}\n"))
    assert (s.name, s.lengths, s.limit, s.params) == ("s", (512,), 4, {"num_samples": 6, "key_digits": 3})
    assert load_suite(_write(tmp_path, "extends: parent.yaml\n", "c.yaml")).models == ("random:llama-tiny",)
    assert load_suite(_write(tmp_path, "extends: phase3\n", "p.yaml")).tasks == load_suite("phase3").tasks


def test_profiles_and_overrides(tmp_path):
    text = BASE + "profiles:\n  quick: {models: [random:qwen2-tiny], limit: 1}\n"
    s = load_suite(_write(tmp_path, text), profile="quick", sets=["lengths=[128, 256]", "params.num_samples=2"])
    assert (s.models, s.limit, s.lengths, s.params, s.profiles) == (
        ("random:qwen2-tiny",), 1, (128, 256), {"num_samples": 2}, ("quick",))
    s = load_suite(_write(tmp_path, text), models="random:llama-tiny(layers=1),random:qwen2-tiny")
    assert s.models == ("random:llama-tiny(layers=1)", "random:qwen2-tiny")


def test_models_override_sets_aside_gates_of_other_models():
    s = load_suite("smoke", models="ref:rope")
    assert {g.model for g in s.gates} == {"ref:rope"} and {g.model for g in s.dropped_gates} == {"ref:alibi", "ref:toroidal-d1"}


@pytest.mark.parametrize("text, kwargs, msg", [
    (BASE + "modles: [x]\n", {}, "did you mean 'models'"),
    ("grid: {models: [random:llama-tiny], encoding: [rope]}\ntasks: [passkey]\nlengths: [256]\n", {}, "did you mean 'encodings'"),
    ("grid: {models: [random:llama-tiny], encodings: []}\ntasks: [passkey]\nlengths: [256]\n", {}, "grid"),
    ("grid: {models: [random:llama-tiny], encodings: [alibbi]}\ntasks: [passkey]\nlengths: [256]\n", {}, "alibbi"),
    ("models: [random:llama-tiny]\ntasks: [{task: passkey, length: [1]}]\nlengths: [256]\n", {}, "did you mean 'lengths'"),
    ("models: [random:llama-tiny]\ntasks: [{task: passkey, limit: 0}]\nlengths: [256]\n", {}, "limit 0"),
    ("models: [random:llama-tiny]\ntasks: [{task: passkey, lengths: [1.5]}]\nlengths: [256]\n", {}, "1.5"),
    ("models: [random:llama-tiny]\ntasks: [{lengths: [256]}]\nlengths: [256]\n", {}, "needs 'task:'"),
    ("models: [random:llama-tiny]\ntasks: [{task: passkey, lengths: [512]}]\n"
     "gates: [{task: passkey, metric: accuracy, context_length: 256, op: '>=', value: 0}]\n", {}, "not among task"),
    (BASE + "profiles: {quick: {nmae: x}}\n", {}, "profile 'quick'"),
    (BASE + "profiles: {quick: {limit: -1}}\n", {}, "limit -1"),
    (BASE + "profiles: {quick: {limit: 1}}\n", {"profile": "quik"}, "did you mean 'quick'"),
    (BASE, {"sets": ["limt=3"]}, "did you mean 'limit'"),
    (BASE, {"sets": ["limit"]}, "not key=value"),
    (BASE, {"sets": ["limit=[1"]}, "not YAML"),
    (BASE, {"sets": ["limit=2.5"]}, "limit 2.5"),
    (BASE, {"sets": ["lengths.x=1"]}, "not a mapping"),
    (BASE, {"sets": ["params.num_sample=1"]}, "did you mean 'num_samples'"),
    (BASE, {"models": ","}, "--models is empty"),
    (BASE, {"models": "random:llama-tny"}, "llama-tny"),
    (BASE + "extends: nosuch\n", {}, "unknown suite 'nosuch'"),
    (BASE + "extends: 5\n", {}, "'extends'"),
])
def test_bad_composition_is_refused(tmp_path, text, kwargs, msg):
    _refused(tmp_path, text, msg, **kwargs)


def test_extends_cycles_are_refused(tmp_path):
    _write(tmp_path, "extends: b\n", "a.yaml")
    _write(tmp_path, "extends: a.yaml\n", "b.yaml")
    with pytest.raises(UsageError, match="extends itself"):
        load_suite(str(tmp_path / "a.yaml"))
    with pytest.raises(UsageError, match="extends itself"):
        load_suite(_write(tmp_path, BASE + "extends: self.yaml\n", "self.yaml"))


@pytest.mark.parametrize("args, msg", [
    (["--profile", "ofline"], "did you mean 'offline'"),
    (["--set", "limt=2"], "did you mean 'limit'"),
    (["--models", "ref:rpoe"], "rpoe"),
])
def test_cli_refuses_in_one_line_with_exit_2(tmp_path, args, msg):
    r = cli.invoke(app, ["run", "suite", "phase3", *args, "--out", str(tmp_path / "x.parquet")])
    assert r.exit_code == 2 and msg in r.output
    assert len([line for line in r.output.splitlines() if line.strip()]) == 1, r.output


NEW = ["phase2", "phase3", "phase4", "phase5", "phase6", "toroidal-baseline", "toroidal-compare"]


@pytest.mark.parametrize("name", NEW)
def test_phase_suites_and_their_profiles_load(name):
    assert name in suite_files()
    suite = load_suite(name)
    assert suite.gates and "offline" in suite.profiles
    offline = load_suite(name, profile="offline")
    assert all(m.startswith("ref:") for m in offline.models) and offline.gates
    assert suite_cells(offline)


def test_one_cell_of_phase3_offline_passes_its_gate(tmp_path):
    """The fast stand-in for the whole offline run (tests/test_suite_phases_slow.py)."""
    start = time.perf_counter()
    r = cli.invoke(app, ["run", "suite", "phase3", "--profile", "offline", "--models", "ref:alibi",
                         "--set", "tasks=[passkey]", "--set", "lengths=[512]", "--set", "limit=3",
                         "--set", "gates=[{task: passkey, metric: accuracy, model: 'ref:alibi', op: '>=', value: 0.8}]",
                         "--out", str(tmp_path / "p3.parquet")])
    assert r.exit_code == 0, r.output
    assert "1 of 1 passed" in r.output
    assert time.perf_counter() - start < 60


def test_gate_reads_the_profile_the_results_were_run_with(tmp_path):
    out = tmp_path / "p3.parquet"
    r = cli.invoke(app, ["run", "suite", "phase3", "--profile", "offline", "--models", "ref:alibi",
                         "--set", "tasks=[passkey]", "--set", "lengths=[512]", "--set", "limit=2",
                         "--set", "gates=[]", "--out", str(out)])
    assert r.exit_code == 0, r.output
    offline = load_suite("phase3", profile="offline")
    r = cli.invoke(app, ["gate", str(out), "--suite", "phase3", "--profile", "offline", "--format", "json"])
    verdicts = json.loads(r.output)["verdicts"]
    assert {v["gate"] for v in verdicts} and len(verdicts) >= len(offline.gates)
    assert all(v["model_spec"].startswith("ref:") for v in verdicts)
    assert any(v["model_spec"] == "ref:alibi" and v["observed"] is not None for v in verdicts)
    r = cli.invoke(app, ["gate", str(out), "--suite", "phase3", "--profile", "nosuch"])
    assert r.exit_code == 2 and r.output.count("\n") <= 2, r.output
