"""max_ratio gates, and plan suites (phase9 packages phase reports, phase10 decides go / no-go)."""

import json

import pandas as pd
import pytest
from helpers import rows, write
from typer.testing import CliRunner

from toroidal_bench import gates
from toroidal_bench.cli import app
from toroidal_bench.errors import UsageError
from toroidal_bench.suites import load_plan, load_suite
from toroidal_bench.suites.plan import phase_results

cli = CliRunner()


def _frame(*parts):
    return pd.DataFrame([r for part in parts for r in part]).assign(position=None)


def _ratio_gate(metric, ratio=1.2, ref="rope"):
    return gates.parse_gates([{"task": "profile", "metric": metric, "max_ratio": ratio, "relative_to": ref}], "t")[0]


def test_max_ratio_follows_the_metric_direction_and_skips_the_reference():
    df = _frame(rows("rope", "profile", 64, "peak_bytes", [100.0]), rows("alibi", "profile", 64, "peak_bytes", [119.0]),
                rows("toro", "profile", 64, "peak_bytes", [121.0]),
                rows("rope", "profile", 64, "prefill_tokens_per_s", [1000.0]),
                rows("alibi", "profile", 64, "prefill_tokens_per_s", [850.0]),
                rows("toro", "profile", 64, "prefill_tokens_per_s", [800.0]))
    peak = {v.model_spec: v for v in gates.evaluate([_ratio_gate("peak_bytes")], df)}
    assert set(peak) == {"alibi", "toro"}  # the reference is not gated against itself
    assert peak["alibi"].passed and not peak["toro"].passed
    assert peak["toro"].threshold == pytest.approx(120.0)
    assert "1.21× rope's 100" in peak["toro"].reason
    speed = {v.model_spec: v for v in gates.evaluate([_ratio_gate("prefill_tokens_per_s", 1.25)], df)}
    assert speed["alibi"].passed and speed["toro"].passed  # ≥ 1000 / 1.25 = 800
    assert speed["toro"].required() == ">= 800"


def test_max_ratio_never_passes_without_the_reference():
    df = _frame(rows("alibi", "profile", 64, "peak_bytes", [1.0]))
    (v,) = gates.evaluate([_ratio_gate("peak_bytes")], df)
    assert not v.passed and "rope: no matching rows" in v.reason


@pytest.mark.parametrize("item, message", [
    ({"max_ratio": 0.5, "relative_to": "rope"}, "max_ratio must be a finite number ≥ 1"),
    ({"max_ratio": 1.2}, "relative_to must name a model spec"),
    ({"max_ratio": 1.2, "relative_to": "rope", "op": ">=", "value": 1}, "one of op\\+value"),
])
def test_malformed_ratio_gates(item, message):
    with pytest.raises(UsageError, match=message):
        gates.parse_gates([{"task": "profile", "metric": "peak_bytes", **item}], "t")


def test_a_metric_without_direction_cannot_be_a_ratio_gate():
    with pytest.raises(UsageError, match="no better direction"):
        gates.parse_gates([{"task": "diagnostics", "metric": "spectral_entropy", "max_ratio": 2,
                            "relative_to": "rope"}], "t")


def test_a_suite_checks_relative_to_against_its_models(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nmodels: [random:llama-tiny, random:llama-tiny+alibi]\ntasks: [profile]\n"
                    "lengths: [128]\ngates:\n  - {task: profile, metric: peak_bytes, max_ratio: 1.2, "
                    "relative_to: 'random:llama-tinny'}\n")
    with pytest.raises(UsageError, match="relative_to 'random:llama-tinny' is not among") as bad:
        load_suite(str(path))
    assert "did you mean 'random:llama-tiny'" in bad.value.line()


# -- plans -------------------------------------------------------------------------------------------
def test_plans_are_validated_when_they_load(tmp_path):
    def plan(body):
        path = tmp_path / "p.yaml"
        path.write_text("name: p\n" + body)
        return load_plan(str(path))

    with pytest.raises(UsageError, match="unknown suite 'phase33'") as bad:
        plan("phases: [phase33]\npackage: true\n")
    assert "did you mean 'phase3'" in bad.value.line()
    with pytest.raises(UsageError, match="exactly one of 'package: true' and 'decision:'"):
        plan("phases: [phase3]\n")
    with pytest.raises(UsageError, match="decision.require"):
        plan("phases: [phase3]\ndecision: {inform: [phase3]}\n")
    with pytest.raises(UsageError, match="lists phase3 twice"):
        plan("phases: [phase3]\ndecision: {require: [phase3], inform: [phase3]}\n")
    with pytest.raises(UsageError, match="not among its phases"):
        plan("phases: [phase3]\npackage: true\nresults: {phase7: x.parquet}\n")
    assert load_plan("phase3") is None
    with pytest.raises(UsageError, match="is a plan"):
        load_suite("phase10")


def test_phase_results_take_the_newest_default_named_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    for name in ("phase3-20260101-000000.parquet", "phase3-20261130-101010.parquet",
                 "phase3-20261130-101010.prompts.parquet", "phase3-mine.parquet", "phase30-20270101-000000.parquet"):
        (tmp_path / "results" / name).write_bytes(b"")
    found = phase_results(load_plan("phase10"))
    assert found["phase3"].name == "phase3-20261130-101010.parquet"
    assert found["phase2"] is None


def _phase_file(path, spec_encodings: dict[str, str], task, metric, length, values):
    rs = []
    for spec, enc in spec_encodings.items():
        for r in rows(spec, task, length, metric, values[spec], cell=f"{task}-{length}"):
            rs.append({**r, "encoding": enc})
    return write(path, rs)


def test_the_decision_is_go_no_go_or_incomplete_and_never_rests_on_missing_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    specs = {"ref:rope": "none", "ref:alibi": "alibi", "ref:pi-spiral": "pi-spiral"}
    p2 = _phase_file(tmp_path / "p2.parquet", {"ref:rope": "none"}, "passkey", "accuracy", 512, {"ref:rope": [1, 1]})
    p3 = _phase_file(tmp_path / "p3.parquet", specs, "passkey", "accuracy", 512,
                     {"ref:rope": [1, 1], "ref:alibi": [1, 0], "ref:pi-spiral": [1, 1]})
    out = tmp_path / "v.json"
    # phase2 offline gates shakespeare perplexity too: its rows are missing here, so the
    # precondition fails and nothing may be go
    r = cli.invoke(app, ["run", "suite", "phase10", "--profile", "offline", "--set", f"results={{phase2: {p2}, "
                         f"phase3: {p3}}}", "--out", str(out)])
    assert r.exit_code == 0, r.output
    verdicts = {v["encoding"]: v for v in json.loads(out.read_text())["verdicts"]}
    assert {v["verdict"] for v in verdicts.values()} == {"no-go"}
    assert any("phase2:" in reason and "shakespeare" in reason for reason in verdicts["none"]["reasons"])


def test_a_plan_decides_by_its_own_rule(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    specs = {"ref:rope": "none", "ref:alibi": "alibi", "ref:pi-spiral": "pi-spiral"}
    p3 = _phase_file(tmp_path / "p3.parquet", specs, "passkey", "accuracy", 512,
                     {"ref:rope": [1, 1], "ref:alibi": [1, 0], "ref:pi-spiral": [1, 1]})
    p8 = _phase_file(tmp_path / "p8.parquet", {"ref:rope": "none", "ref:alibi": "alibi"}, "passkey", "accuracy",
                     512, {"ref:rope": [1, 1], "ref:alibi": [1, 1]})
    plan = tmp_path / "decide.yaml"
    plan.write_text(f"name: decide\nphases: [phase3, phase8, phase7]\nresults: {{phase3: {p3}, phase8: {p8}}}\n"
                    "decision: {require: [phase3, phase8], inform: [phase7]}\n")
    from toroidal_bench.suites.decision import decide

    loaded = load_plan(str(plan), profile="offline")
    table = decide(loaded, phase_results(loaded))
    got = {r.encoding: r for r in table}
    # phase3 offline gates passkey@512 ≥ 0.8 on ref:rope, ref:alibi, ref:pi-spiral (and others, not run here)
    # ref:rope: its phase3 and phase8 gates pass (it is the reference of phase8's ratio gate, not gated by it)
    assert got["none"].verdict == "go"
    assert got["alibi"].verdict == "no-go" and "0.5 is not >= 0.8" in got["alibi"].reasons[0]
    assert got["pi-spiral"].verdict == "incomplete"
    assert got["pi-spiral"].phases["phase8"].status == "not run"
    assert got["none"].phases["phase7"].status == "no results"


def test_the_package_links_one_report_per_phase(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    p3 = _phase_file(tmp_path / "p3.parquet", {"ref:rope": "none"}, "passkey", "accuracy", 512, {"ref:rope": [1, 1]})
    r = cli.invoke(app, ["run", "suite", "phase9", "--profile", "offline", "--set", f"results={{phase3: {p3}}}",
                         "--out", str(tmp_path / "pkg")])
    assert r.exit_code == 0, r.output
    index = (tmp_path / "pkg" / "index.html").read_text()
    assert '<a href="phase3/index.html">phase3</a>' in index
    assert (tmp_path / "pkg" / "phase3" / "index.html").is_file()
    assert "1 of 8" in index  # ref:rope passes its gate; the seven specs without rows fail theirs
    assert not (tmp_path / "pkg" / "phase2").exists()


def test_phase2_and_phase3_offline_then_the_decision_never_goes_without_phase8(tmp_path, monkeypatch):
    """The CI run of the plan: the two phases on the reference models with a small limit, as
    `tbench run suite` names their files, then phase10 reading them."""
    monkeypatch.chdir(tmp_path)
    few = {"phase2": [], "phase3": ["--models", "ref:rope,ref:alibi,ref:pi-spiral"]}
    for phase, models in few.items():
        r = cli.invoke(app, ["run", "suite", phase, "--profile", "offline", "--limit", "1", *models])
        assert r.exit_code == 0, r.output  # the first sample of each cell passes every gate (measured)
        assert "of" in r.output and "passed" in r.output
    r = cli.invoke(app, ["run", "suite", "phase10", "--profile", "offline", "--out", "v.json"])
    assert r.exit_code == 0, r.output
    record = json.loads((tmp_path / "v.json").read_text())
    assert record["results"]["phase8"] is None and record["results"]["phase3"].startswith("results/phase3-")
    verdicts = {v["encoding"]: v for v in record["verdicts"]}
    assert {"none", "alibi", "pi-spiral"} <= set(verdicts)
    assert "go" not in {v["verdict"] for v in verdicts.values()}
    assert all(v["phases"]["phase8"]["status"] == "no results" for v in verdicts.values())


def test_a_training_step_is_a_suite_and_saves_a_model_later_suites_load(tmp_path):
    out = tmp_path / "ft"
    r = cli.invoke(app, ["run", "suite", "toroidal-finetune", "--profile", "offline", "--set", "train.steps=2",
                         "--set", "train.batch_size=2", "--set", "train.length=128", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "config.json").is_file() and "evaluate it as" in r.output
    from toroidal_bench.models.loading import resolve

    # the injected toroidal layer travels with the folder: it resolves as the encoding of local:DIR
    assert resolve(f"local:{out}").encoding_label.startswith("toroidal")
    r = cli.invoke(app, ["run", "suite", "toroidal-finetune", "--profile", "offline", "--out", str(out)])
    assert r.exit_code == 2 and "--overwrite" in r.output  # a finished model is never silently replaced


def test_training_steps_are_validated_when_they_load(tmp_path):
    def plan(body):
        path = tmp_path / "t.yaml"
        path.write_text("name: t\n" + body)
        return load_plan(str(path))

    with pytest.raises(UsageError, match="needs 'out'"):
        plan("train: {model: 'random:llama-tiny'}\n")
    with pytest.raises(UsageError, match="unknown key 'stepz'") as bad:
        plan("train: {model: 'random:llama-tiny', stepz: 3, out: x}\n")
    assert "did you mean 'steps'" in bad.value.line()
    with pytest.raises(UsageError, match="a step of its own"):
        plan("phases: [phase3]\ntrain: {model: 'random:llama-tiny', out: x}\n")
    with pytest.raises(UsageError):
        plan("train: {model: 'random:llama-tiny', steps: many, out: x}\n")
    assert plan("train: {model: 'random:llama-tiny', steps: 3, out: x}\n").train["steps"] == 3
