"""The offline profiles of the phase suites end to end on CPU, gates included (each a minute or more
on two cores, so marked slow; tests/test_suite_compose.py runs one cell of phase3 fast)."""

import pytest
from typer.testing import CliRunner

from toroidal_bench.cli import app

cli = CliRunner()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["phase2", "phase3", "phase7", "phase8", "toroidal-baseline", "toroidal-compare"])
def test_offline_profile_runs_and_passes_its_gates(tmp_path, name):
    r = cli.invoke(app, ["run", "suite", name, "--profile", "offline", "--out", str(tmp_path / "r.parquet")])
    assert r.exit_code == 0, r.output
