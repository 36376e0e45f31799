"""docs/ci.md's GitHub Actions job: it parses, its steps are the ones the page describes, and its gate
command, run as written on the committed baseline, writes JUnit XML with every gate passing."""

import re
import shlex
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml
from typer.testing import CliRunner

from toroidal_bench.cli import app

ROOT = Path(__file__).resolve().parents[1]


def job():
    text = (ROOT / "docs" / "ci.md").read_text()
    workflow = yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))
    return workflow["jobs"]["smoke"]


def steps():
    return {s.get("name", s.get("uses")): s for s in job()["steps"]}


def test_the_job_installs_runs_gates_and_uploads():
    s = steps()
    assert "pip install -e ." in s["Install tbench (CPU build of torch)"]["run"]
    assert "tbench run suite smoke --out results/ci/smoke.parquet" in s["Run the smoke suite"]["run"]
    assert "--format junit > results/ci/gates.xml" in s["Gate against the committed baseline"]["run"]
    upload = s["Upload the gate report and the results"]
    assert upload["uses"].startswith("actions/upload-artifact@") and upload["with"]["path"] == "results/ci/"
    assert upload["if"] == "${{ !cancelled() }}"  # kept when a gate failed
    assert job()["env"]["HF_HUB_OFFLINE"] == "1"


def test_the_gate_step_as_written_passes_on_the_committed_baseline(tmp_path, monkeypatch):
    command, _, target = steps()["Gate against the committed baseline"]["run"].partition(">")
    args = shlex.split(command)
    assert args[0] == "tbench"
    (tmp_path / "results" / "ci").mkdir(parents=True)
    shutil.copy(ROOT / "results" / "baselines" / "smoke.parquet", tmp_path / "results" / "ci" / "smoke.parquet")
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(app, args[1:])
    assert r.exit_code == 0, r.output
    Path(target.strip()).write_text(r.output)
    root = ET.parse(target.strip()).getroot()
    assert (root.get("tests"), root.get("failures")) == ("6", "0")
    assert len(root.findall("testsuite/testcase")) == 6
