"""Parity of the perplexity protocols with their originals, on the same local model and text.

`disjoint` against lm-evaluation-harness's own `wikitext` task (its YAML, detokenizer, HF model and
aggregation), reading a local document-level copy; `sliding` against the strided loop of
transformers' guide "Perplexity of fixed-length models", computed with the model's own loss.
"""

import json
import math
from pathlib import Path

import pytest
import torch
from helpers import save_random_model
from typer.testing import CliRunner

from toroidal_bench.cli import app
from toroidal_bench.compare import compare

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests/fixtures/perplexity"
LENGTH = 64  # several windows per page with the byte tokenizer

cli = CliRunner()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A random tiny llama and its byte tokenizer saved as a local model, which both harnesses load."""
    return save_random_model(tmp_path_factory.mktemp("model"))


def _tbench(model_dir, tmp_path, *args) -> dict[str, float]:
    out = tmp_path / "run.parquet"
    r = cli.invoke(app, ["run", "task", *args, "--model", f"local:{model_dir}", "--length", str(LENGTH),
                         "--out", str(out)])
    assert r.exit_code == 0, r.output
    t = compare([out])
    whole = t[t["position"].isna()]
    return dict(zip(whole["metric"], whole["value"], strict=True))


def _lm_eval_wikitext(model_dir) -> dict[str, float]:
    import lm_eval
    import lm_eval.tasks
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks._yaml_loader import load_yaml

    config = load_yaml(str(Path(lm_eval.tasks.__file__).parent / "wikitext/wikitext.yaml"), resolve_func=True)
    # the hub copy of EleutherAI/wikitext_document_level swapped for the same pages on disk
    config.update(dataset_path="json", dataset_name=None, training_split=None, validation_split=None,
                  dataset_kwargs={"data_files": {"test": str(FIXTURES / "wikitext_document_level.jsonl")}})
    # add_bos_token=False: the text is encoded without BOS, the window's prefix token is the only one
    lm = HFLM(pretrained=str(model_dir), max_length=LENGTH, batch_size=1, device="cpu", dtype="float32",
              add_bos_token=False)
    out = lm_eval.simple_evaluate(model=lm, tasks=[ConfigurableTask(config=config)], bootstrap_iters=0)
    res = out["results"]["wikitext"]
    return {k: res[f"{k},none"] for k in ("word_perplexity", "byte_perplexity", "bits_per_byte")}


def test_disjoint_equals_lm_eval_wikitext(model_dir, tmp_path):
    theirs = _lm_eval_wikitext(model_dir)
    ours = _tbench(model_dir, tmp_path, "wikitext2", "--data-dir", str(FIXTURES))
    for name, value in theirs.items():
        print(f"disjoint {name}: tbench {ours[name]!r} lm-eval {value!r} rel {abs(ours[name] / value - 1):.2e}")
        assert ours[name] == pytest.approx(value, rel=1e-4)


def guide_loop(model, ids: torch.Tensor, max_length: int, stride: int, literal_count: bool = False) -> float:
    """transformers' guide: windows of max_length tokens every `stride`, the overlap masked with −100,
    each window's mean loss (the model's own) weighted by its scored tokens; exp of the weighted mean.

    The guide counts a window's scored tokens as its unmasked labels minus one (the label the model's
    shift drops); that is exact for the first window only: later windows' first label is masked
    already, so they score one token more than counted. `literal_count` keeps the guide's count; by
    default the count is the labels the loss really covers."""
    seq_len = ids.size(1)
    nll_sum, n_tokens, prev_end = 0.0, 0, 0
    for begin in range(0, seq_len, stride):
        end = min(begin + max_length, seq_len)
        trg_len = end - prev_end
        input_ids = ids[:, begin:end]
        target_ids = input_ids.clone()
        target_ids[:, :-trg_len] = -100
        with torch.no_grad():
            loss = model(input_ids, labels=target_ids).loss
        if literal_count:
            scored = int((target_ids != -100).sum()) - target_ids.size(0)
        else:
            scored = int((target_ids[:, 1:] != -100).sum())  # the labels left after the shift
        nll_sum += float(loss) * scored
        n_tokens += scored
        prev_end = end
        if end == seq_len:
            break
    return math.exp(nll_sum / n_tokens)


@pytest.mark.parametrize("stride", [32, 17])
def test_sliding_equals_the_transformers_guide_loop(model_dir, tmp_path, stride):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    text = (FIXTURES / "test/10003.txt").read_text()
    book = tmp_path / "book.txt"
    book.write_text(text)
    ours = _tbench(model_dir, tmp_path, "perplexity", "--data-file", str(book), "--param", "protocol=sliding",
                   "--param", f"stride={stride}")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    ids = tok(text, return_tensors="pt").input_ids  # the tokenizer's own BOS first, as in the guide
    assert ids[0, 0] == tok.bos_token_id and ids.size(1) > 4 * LENGTH
    theirs = guide_loop(model, ids, LENGTH, stride)
    literal = guide_loop(model, ids, LENGTH, stride, literal_count=True)
    print(f"sliding stride {stride}: tbench {ours['perplexity']!r} guide {theirs!r} "
          f"rel {abs(ours['perplexity'] / theirs - 1):.2e}; guide with its own token count {literal!r} "
          f"rel {abs(ours['perplexity'] / literal - 1):.2e}")
    assert ours["perplexity"] == pytest.approx(theirs, rel=1e-5)
    # the guide's count weighs each later window one token short: a small, known difference
    assert ours["perplexity"] == pytest.approx(literal, rel=1e-4)
    assert ours["tokens"] == ids.size(1) - 1  # every token after BOS scored once


def test_the_local_copy_holds_the_pages_of_the_raw_file():
    from toroidal_bench.tasks.perplexity.wikitext import split_pages

    raw = (FIXTURES / "wikitext-2-raw/wiki.test.raw").read_text()
    pages = [json.loads(line)["page"] for line in (FIXTURES / "wikitext_document_level.jsonl").read_text().splitlines()]
    assert split_pages(raw) == pages
