"""The `tbench` lm-eval model: offline runs of local lm-eval tasks, parity with the Runner, with a
direct forward pass and with lm-eval's own HF model on the same weights."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import toroidal_bench as tb
from toroidal_bench.errors import UsageError
from toroidal_bench.integrations.lm_eval_model import DEFAULT_MAX_GEN_TOKS, TbenchLM, generation_settings
from toroidal_bench.tasks.base import Generate, LogLikelihood, Rolling

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "lm_eval"
TASKS = ["tbench_mc", "tbench_rolling", "tbench_gen"]
L = 48  # short enough that multiple-choice prompts are cut and pages span several rolling windows


@pytest.fixture(scope="module")
def runner():
    return tb.load("random:llama-tiny+alibi")


@pytest.fixture(scope="module")
def manager():
    from lm_eval.tasks import TaskManager

    return TaskManager(include_defaults=False, include_path=str(FIXTURES))


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the fixture YAMLs name their data files relative to the repository


def evaluate(model, manager, **kw):
    from lm_eval import simple_evaluate

    return simple_evaluate(model=model, tasks=TASKS, task_manager=manager, log_samples=True, bootstrap_iters=0, **kw)


def ids(tok, text, special=True):
    return list(tok(text, add_special_tokens=special)["input_ids"])


def test_simple_evaluate_by_name_matches_the_runner(runner, manager):
    out = evaluate("tbench", manager, model_args=f"spec=random:llama-tiny+alibi,max_length={L}")
    tok = runner.tokenizer
    assert out["config"]["tbench_spec"] == "random:llama-tiny+alibi"

    mc = out["samples"]["tbench_mc"]
    assert [d["doc_id"] for d in mc] == [0, 1, 2, 3]
    for doc in mc:
        for (ctx, cont), (ll, greedy) in zip(doc["arguments"], doc["filtered_resps"], strict=True):
            c = ids(tok, ctx)
            whole = ids(tok, ctx + cont)
            kept = whole[-(L + 1):]  # the model reads at most L tokens; the left end goes
            n = len(whole) - len(c)
            want = runner.loglikelihood([LogLikelihood(tuple(kept[:-n]), tuple(kept[-n:]))])[0]
            assert ll == pytest.approx(want[0], abs=1e-4) and greedy == want[1]
        lls = [ll for ll, _ in doc["filtered_resps"]]
        assert doc["acc"] == float(max(range(len(lls)), key=lls.__getitem__) == doc["target"])

    for doc in out["samples"]["tbench_rolling"]:
        page = doc["arguments"][0][0]
        want = runner.rolling_loglikelihood([Rolling(tuple(ids(tok, page, special=False)), L)])[0].total
        assert doc["filtered_resps"][0] == pytest.approx(want, abs=1e-3)
        ll, words = doc["word_perplexity"]
        assert words == len(page.split()) and ll == doc["filtered_resps"][0]

    for doc in out["samples"]["tbench_gen"]:
        ctx, kwargs = doc["arguments"][0]
        want = runner.generate([Generate(tuple(ids(tok, ctx)), kwargs["max_gen_toks"], ("\n",))])[0]
        assert doc["filtered_resps"][0] == want and "\n" not in want


def test_one_loglikelihood_by_hand(runner):
    """log p(" blue" | prompt) summed from one plain forward pass, no batching, no truncation."""
    from lm_eval.api.instance import Instance

    ctx, cont = "Question: What colour is the sky on a clear day?\nAnswer:", " blue"
    lm = TbenchLM(runner=runner)
    [(ll, greedy)] = lm.loglikelihood([Instance("loglikelihood", {}, (ctx, cont), 0, ("t", 0, 1))])
    whole = ids(runner.tokenizer, ctx + cont)
    n = len(cont.encode())  # byte tokenizer: one token per byte
    with torch.no_grad():
        logits = runner.model(torch.tensor([whole[:-1]])).logits[0].double().log_softmax(-1)
    picked = logits[-n:].gather(-1, torch.tensor(whole[-n:])[:, None])
    assert ll == pytest.approx(picked.sum().item(), abs=1e-4)
    assert greedy == bool((logits[-n:].argmax(-1) == torch.tensor(whole[-n:])).all())


def test_same_numbers_as_lm_evals_own_hf_model(runner, manager):
    from lm_eval.models.huggingface import HFLM

    ours = evaluate(TbenchLM(runner=runner, max_length=L), manager)["samples"]
    hf = evaluate(HFLM(pretrained=runner.model, tokenizer=runner.tokenizer, max_length=L, batch_size=8), manager)["samples"]
    # lm-eval's HF model scores a second BOS when the tokenizer adds one; without it they agree
    hf_no_bos = evaluate(HFLM(pretrained=runner.model, tokenizer=runner.tokenizer, max_length=L, batch_size=8,
                              add_bos_token=False), manager)["samples"]

    def resps(samples, task):
        return [d["filtered_resps"] for d in samples[task]]

    def totals(samples):
        return [d["filtered_resps"][0] for d in samples["tbench_rolling"]]

    for a, b in zip(resps(ours, "tbench_mc"), resps(hf, "tbench_mc"), strict=True):
        assert [x[1] for x in a] == [x[1] for x in b]
        assert [x[0] for x in a] == pytest.approx([x[0] for x in b], abs=1e-4)
    assert resps(ours, "tbench_gen") == resps(hf, "tbench_gen")
    assert totals(ours) == pytest.approx(totals(hf_no_bos), abs=1e-3)
    assert totals(ours) != pytest.approx(totals(hf), abs=1e-3)


def test_registered_without_hiding_lm_evals_own_models():
    from lm_eval.api.registry import get_model

    assert get_model("tbench") is TbenchLM
    assert "hf" in get_model.__globals__["model_registry"]


def test_generation_settings():
    assert generation_settings({"until": "\n\n", "max_new_tokens": 5}) == (["\n\n"], 5)
    assert generation_settings({"until": ["a", "b"], "max_gen_toks": 3, "max_tokens": 9}) == (["a", "b"], 3)
    assert generation_settings(None) == ([], DEFAULT_MAX_GEN_TOKS)
    assert generation_settings({"do_sample": False, "temperature": 0.7}) == ([], DEFAULT_MAX_GEN_TOKS)
    for sampling in ({"do_sample": True}, {"temperature": 0.8}):
        with pytest.raises(UsageError, match="greedily"):
            generation_settings(sampling)


def test_prompt_is_cut_on_the_left_to_leave_room_for_the_answer(runner):
    lm = TbenchLM(runner=runner, max_length=20)
    req, cut = lm._generate_request("x" * 30, {"max_gen_toks": 8})
    assert len(req.prompt_ids) == 12 and cut == 31 - 12  # BOS + 30 bytes
    assert req.prompt_ids == tuple(ids(runner.tokenizer, "x" * 30)[-12:])
    with pytest.raises(UsageError, match="no room"):
        lm._generate_request("x", {"max_gen_toks": 20})


@pytest.mark.parametrize("kwargs, message", [
    ({}, "needs spec="),
    ({"spec": "random:llama-tiny", "max_length": "many"}, "max_length must be a positive integer"),
    ({"spec": "random:llama-tiny+alibbi"}, "did you mean 'alibi'"),
])
def test_bad_model_args_are_usage_errors(kwargs, message):
    with pytest.raises(UsageError) as err:
        TbenchLM(**kwargs)
    assert message in err.value.line()


@pytest.mark.slow  # lm-eval's CLI indexes all its ~15k tasks first; test_lm_eval_task covers the hand-over fast
def test_lm_eval_cli_entry_runs_a_task_with_the_tbench_model(tmp_path):
    """The documented way to reach `--model tbench` from lm-eval's own command line."""
    cmd = [sys.executable, "-m", "toroidal_bench.integrations.lm_eval_cli", "--model", "tbench",
           "--model_args", '{"spec": "random:llama-tiny(layers=1,seed=2)+alibi", "max_length": 64}',
           "--tasks", str(FIXTURES / "tbench_mc.yaml"), "--limit", "2", "--output_path", str(tmp_path / "out")]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "tbench_mc" in done.stdout and "acc" in done.stdout
    results = list((tmp_path / "out").rglob("results_*.json"))
    assert len(results) == 1 and "random:llama-tiny(layers=1,seed=2)+alibi" in results[0].read_text()
    acc = json.loads(results[0].read_text())["results"]["tbench_mc"]["acc,none"]
    assert 0.0 <= acc <= 1.0 and not math.isnan(acc)
