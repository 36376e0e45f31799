"""Model cards: filled from the manifest and the log after training, scores only from results files."""

import pytest

from toroidal_bench.results import to_table
from toroidal_bench.training import TrainConfig, train
from toroidal_bench.training.card import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("card") / "m"
    train(TrainConfig(model="random:llama-tiny+nope", data="periodic", steps=2, length=32, batch_size=1,
                      name="nope"), out, device="cpu")
    return out


def test_card_after_training_states_facts_and_no_scores(trained):
    card = (trained / "README.md").read_text()
    assert "random:llama-tiny+nope" in card and "training length: 32 tokens" in card
    assert "tbench train --recipe ref/recipes/nope.yaml" in card and "parameters: " in card
    assert "None measured yet" in card


def test_card_takes_any_metric_from_results(trained, tmp_path):
    import pyarrow.parquet as pq

    rows = [dict(model_spec="ref:nope", task="passkey", context_length=n, metric="accuracy", value=v)
            for n, v in ((512, 1.0), (512, 0.5), (1024, 0.25))]
    for doc, (nll, tokens) in enumerate(((1500.0, 500.0), (500.0, 500.0))):  # perplexity = exp(2000 / 1000)
        rows += [dict(model_spec="ref:nope", task="shakespeare", context_length=1024, metric=m, value=v,
                      sample_id=f"d{doc}") for m, v in (("nll", nll), ("tokens", tokens), ("perplexity", 0.0))]
    rows += [dict(model_spec="ref:other", task="passkey", context_length=512, metric="accuracy", value=0.0)]
    pq.write_table(to_table(rows), tmp_path / "r.parquet")
    main([str(trained), "--spec", "ref:nope", "--results", str(tmp_path / "r.parquet")])
    card = (trained / "README.md").read_text()
    passkey = next(ln for ln in card.splitlines() if ln.startswith("| passkey"))
    assert "0.750" in passkey and "0.250" in passkey
    perplexity = next(ln for ln in card.splitlines() if "| perplexity" in ln)
    assert "7.389" in perplexity  # from the summed NLL and tokens, not the per-document values
    assert "None measured" not in card
