import zipfile

import pytest

from toroidal_bench.resources import builtin_dir


def test_builtin_yaml_is_found_in_a_checkout():
    assert (builtin_dir("tasks") / "passkey.yaml").is_file()
    assert (builtin_dir("suites") / "smoke.yaml").is_file()


def test_wheel_ships_tasks_and_suites_as_package_data(tmp_path, monkeypatch):
    build = pytest.importorskip("hatchling.build", reason="hatchling is a dev dependency")
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    wheel = build.build_wheel(str(tmp_path))
    names = zipfile.ZipFile(tmp_path / wheel).namelist()
    assert "toroidal_bench/_builtin/tasks/passkey.yaml" in names
    assert "toroidal_bench/_builtin/suites/smoke.yaml" in names
    assert any(n.endswith("entry_points.txt") for n in names)
