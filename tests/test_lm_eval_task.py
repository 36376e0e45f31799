"""`lm-eval:<task>`: lm-eval tasks run through tbench, stored as tbench rows; and lm-eval stays optional."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from toroidal_bench import results
from toroidal_bench.cli import app
from toroidal_bench.errors import UsageError
from toroidal_bench.integrations import lm_eval_cli
from toroidal_bench.integrations.lm_eval_rows import check_scored, per_doc_scores, triples
from toroidal_bench.tasks.base import Rolling
from toroidal_bench.tasks.catalog import get_task

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = "tests/fixtures/lm_eval"
INSTALL = "pip install 'toroidal-bench[lm-eval]'"

cli = CliRunner()


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the fixture YAMLs name their data files relative to the repository


@pytest.fixture
def no_lm_eval(monkeypatch):
    """lm-eval uninstalled, as far as imports can tell."""
    for name in [m for m in sys.modules if m == "lm_eval" or m.startswith("lm_eval.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "lm_eval", None)


def test_lm_eval_task_names_map_to_the_family():
    t = get_task("lm-eval:wikitext")
    assert (t.name, t.family, t.params) == ("lm-eval:wikitext", "lm-eval", {"task": "wikitext"})
    t = get_task("lm-eval:path/to/task.yaml")
    assert (t.name, t.family, t.params) == ("lm-eval:path/to/task.yaml", "lm-eval", {"task": "path/to/task.yaml"})
    with pytest.raises(UsageError, match="names no lm-eval task"):
        get_task("lm-eval:")


def test_run_task_writes_rows_that_compare_reads(tmp_path):
    """Multiple choice, perplexity and (through a tbench task file with include_path) generation."""
    gen = tmp_path / "gen.yaml"
    gen.write_text(f"family: lm-eval\nparams: {{task: tbench_gen, include_path: {FIXTURES}}}\n")
    out = tmp_path / "x.parquet"
    r = cli.invoke(app, ["run", "task", f"lm-eval:{FIXTURES}/tbench_mc.yaml", f"lm-eval:{FIXTURES}/tbench_rolling.yaml",
                         str(gen), "--model", "random:llama-tiny+alibi", "--length", "256", "--out", str(out)])
    assert r.exit_code == 0, r.output
    df = results.read(out)
    assert list(df.columns) == [name for name, _, _ in results.COLUMNS]
    assert df.error.isna().all() and (df.context_length == 256).all()
    assert set(df.model_spec) == {"random:llama-tiny+alibi"}
    metrics = df.groupby("task").metric.agg(lambda m: sorted(set(m))).to_dict()
    assert metrics == {f"lm-eval:{FIXTURES}/tbench_mc.yaml": ["acc", "acc_norm"],
                       f"lm-eval:{FIXTURES}/tbench_rolling.yaml": ["bytes", "loglikelihood", "words"],
                       "gen": ["exact_match"]}

    mc = df[df.task.str.endswith("tbench_mc.yaml") & (df.metric == "acc")].sort_values("sample_id")
    assert list(mc.sample_id) == ["0", "1", "2", "3"] and list(mc.reference) == ["0", "1", "2", "0"]
    for _, row in mc.iterrows():  # acc is lm-eval's verdict on the logged loglikelihoods
        lls = [ll for ll, _ in json.loads(row.prediction)]
        assert row.value == float(lls.index(max(lls)) == int(row.reference))
        assert row.truncated_tokens == 0 and row.prompt_tokens > 40

    ppl = df[df.task.str.endswith("tbench_rolling.yaml")].pivot(index="sample_id", columns="metric", values="value")
    pages = [json.loads(line)["page"] for line in (ROOT / FIXTURES / "text.jsonl").read_text().splitlines()]
    assert list(ppl["bytes"]) == [len(p.encode()) for p in pages]
    assert list(ppl["words"]) == [len(p.split()) for p in pages]
    assert (ppl["loglikelihood"] < 0).all()

    prompts = results.prompts_path(out)
    assert set(df.prompt_hash) <= set(pd.read_parquet(prompts).prompt_hash)

    r = cli.invoke(app, ["compare", str(out), "--format", "json"])
    assert r.exit_code == 0, r.output
    table = {(d["task"], d["metric"]): d for d in json.loads(r.output)}
    assert table[(f"lm-eval:{FIXTURES}/tbench_mc.yaml", "acc")]["value"] == pytest.approx(mc.value.mean())


def test_per_doc_scores_and_triples():
    perplexity = {"doc_id": 0, "filter": "none", "target": "a b", "arguments": [("a b",)], "filtered_resps": [-3.5],
                  "metrics": ["word_perplexity", "byte_perplexity", "bits_per_byte"],
                  "word_perplexity": (-3.5, 2), "byte_perplexity": (-3.5, 3), "bits_per_byte": (-3.5, 3)}
    assert per_doc_scores(perplexity) == ({"loglikelihood": -3.5, "words": 2.0, "bytes": 3.0}, [])
    filtered = {"doc_id": 7, "filter": "strict-match", "target": "4", "arguments": [("Q: 2+2?", {})],
                "filtered_resps": ["4"], "metrics": ["exact_match", "bleu"], "exact_match": True, "bleu": ("4", "4")}
    sent = {("ppl", 0): (Rolling((1, 2, 3)), 0), ("gsm", 7): (Rolling((5,)), 2)}
    (s1, o1, sc1), (s2, o2, sc2) = triples({"ppl": [perplexity], "gsm": [filtered]}, sent)
    assert (s1.id, s1.reference, o1, s1.meta) == ("ppl/0", None, "[-3.5]", {"lm_eval_task": "ppl", "filter": "none"})
    assert (s2.id, s2.reference, o2, s2.truncated_tokens) == ("gsm/7", "4", "4", 2)
    assert sc2 == {"exact_match,strict-match": 1.0} and s2.meta["corpus_metrics"] == ["bleu"]
    with pytest.raises(UsageError, match=r"no per-doc number for any metric \(bleu\)"):
        check_scored("gsm", [(s2, o2, {})])


def test_bad_parameters_fail_before_any_model_loads(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("family: lm-eval\nparams: {task: tbench_mc, fewshots: 3}\n")
    fewshot = tmp_path / "fewshot.yaml"
    fewshot.write_text("family: lm-eval\nparams: {task: tbench_mc, num_fewshot: two}\n")
    for task, message in ((str(bad), "take no parameter(s) fewshots"),
                          (str(fewshot), "num_fewshot must be a non-negative integer, got 'two'"),
                          ("lm-eval:missing/task.yaml", "no lm-eval task file at missing/task.yaml")):
        r = cli.invoke(app, ["run", "task", task, "-m", "random:llama-tiny", "-L", "64", "-o", str(tmp_path / "o.parquet")])
        assert r.exit_code == 2 and message in r.output, r.output


def test_unknown_task_names_get_a_suggestion(monkeypatch):
    from toroidal_bench.tasks import lm_eval_task

    class Index:  # lm-eval's full task index takes seconds to build; its names are all this needs
        all_tasks = ["hellaswag", "wikitext"]

    monkeypatch.setattr(lm_eval_task, "_manager", lambda include, defaults: Index())
    with pytest.raises(UsageError) as err:
        get_task("lm-eval:wikitxt").build()
    assert err.value.line() == "unknown lm-eval task 'wikitxt' — did you mean 'wikitext'?"
    assert lm_eval_task.resolve_task("hellaswag", ())[1] == "hellaswag"


def test_missing_lm_eval_is_a_usage_error_naming_the_extra(no_lm_eval, tmp_path, capsys):
    r = cli.invoke(app, ["run", "task", "lm-eval:wikitext", "-m", "random:llama-tiny", "-L", "64",
                         "-o", str(tmp_path / "o.parquet")])
    assert r.exit_code == 2 and INSTALL in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o.parquet").exists()
    with pytest.raises(SystemExit) as stop:
        lm_eval_cli.main()
    assert stop.value.code == 2 and INSTALL in capsys.readouterr().err


def test_lm_eval_cli_registers_tbench_before_handing_over(monkeypatch):
    import lm_eval.__main__

    seen = []
    monkeypatch.setattr(lm_eval.__main__, "cli_evaluate", lambda: seen.append(_model_class("tbench")))
    lm_eval_cli.main()
    assert [c.__name__ for c in seen] == ["TbenchLM"]


def _model_class(name):
    from lm_eval.api.registry import get_model

    return get_model(name)


def test_importing_tbench_and_its_registries_never_imports_lm_eval():
    code = ("import sys; sys.modules['lm_eval'] = None\n"
            "import toroidal_bench, toroidal_bench.integrations\n"
            "from toroidal_bench.tasks import TASK_FAMILIES\n"
            "assert 'lm-eval' in TASK_FAMILIES.names()\n"
            "print(sorted(m for m in sys.modules if m.startswith('lm_eval.')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
