import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own TBENCH_HOME (sample cache, state), never the user's."""
    monkeypatch.setenv("TBENCH_HOME", str(tmp_path_factory.mktemp("tbench_home")))


@pytest.fixture(scope="module")
def runners():
    """CPU runners by (spec, attention), loaded once per test module (tests/helpers.cached_runner)."""
    return {}
