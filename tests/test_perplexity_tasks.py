"""The perplexity family: built-in tasks, local data in the original layouts, one's own files,
protocol settings, and one-line refusals before any model loads."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from toroidal_bench import results
from toroidal_bench.cli import app
from toroidal_bench.errors import UsageError
from toroidal_bench.models.byte_tokenizer import byte_tokenizer
from toroidal_bench.tasks.base import encode
from toroidal_bench.tasks.catalog import get_task
from toroidal_bench.tasks.perplexity import position_buckets
from toroidal_bench.tasks.perplexity.sources import SHAKESPEARE_HELD_OUT, shakespeare_files

FIXTURES = Path(__file__).resolve().parent / "fixtures/perplexity"
cli = CliRunner()


def samples(task: str, length: int, limit=None, **params):
    family = get_task(task).build()
    family.params = {**family.params, **params}
    return list(family.samples(byte_tokenizer(), length, 0, limit))


def run(tmp_path, *args) -> "pd.DataFrame":  # noqa: F821
    out = tmp_path / "run.parquet"
    r = cli.invoke(app, ["run", "task", *map(str, args), "--model", "random:llama-tiny", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return results.read(out)


def refused(tmp_path, *args) -> str:
    out = tmp_path / "refused" / "r.parquet"
    r = cli.invoke(app, ["run", "task", *map(str, args), "--model", "random:llama-tiny", "--out", str(out)])
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert not out.parent.exists()
    return lines[0]


def test_builtin_tasks_write_perplexity_and_position_rows(tmp_path):
    df = run(tmp_path, "wikitext2", "pg19", "periodic_perplexity", "-L", 64, "-n", 2, "--data-dir", FIXTURES)
    assert df["error"].isna().all()
    whole = df[df["position"].isna()]
    metrics = whole.groupby("task")["metric"].agg(lambda m: sorted(set(m))).to_dict()
    lm_eval = ["bits_per_byte", "byte_perplexity", "bytes", "nll", "perplexity", "tokens", "word_perplexity", "words"]
    assert metrics == {"wikitext2": lm_eval, "pg19": ["nll", "perplexity", "tokens"],
                       "periodic_perplexity": ["nll", "perplexity", "tokens"]}
    buckets = df[df["position"].notna() & (df["metric"] == "tokens")]
    for _, group in buckets.groupby(["task", "sample_id"]):
        assert list(zip(group["position"], group["position_end"], strict=True)) == position_buckets(63)
        assert group["value"].sum() == 63  # positions 1..L−1 of every document ≥ L tokens
    assert set(df[df.task == "pg19"]["sample_id"]) == {"10001", "10003"}  # 10002 is shorter than L


def test_every_token_is_scored_once_under_each_protocol():
    text = (FIXTURES / "test/10003.txt").read_text()
    n = len(encode(byte_tokenizer(), text))
    disjoint, sliding = (samples("perplexity", 64, data_file=str(FIXTURES / "test/10003.txt"), protocol=p)[0]
                         for p in ("disjoint", "sliding"))
    (at_length,) = [s for s in samples("pg19", 64, data_dir=str(FIXTURES)) if s.id == "10003"]
    # the runner reads L positions per disjoint window; a strided window of L tokens scores L − 1
    assert (disjoint.request.max_length, disjoint.request.stride) == (64, None)
    assert (sliding.request.max_length, sliding.request.stride) == (63, 32)
    assert (at_length.request.max_length, at_length.request.stride) == (63, 63)
    assert {len(s.request.token_ids) for s in (disjoint, sliding, at_length)} == {n}


def test_at_length_keeps_documents_of_at_least_l_tokens_and_cuts_to_max_tokens():
    docs = samples("pg19", 200, data_dir=str(FIXTURES))
    assert [s.id for s in docs] == ["10001", "10003"] and all(s.request.stride == 199 for s in docs)
    cut = samples("pg19", 200, data_dir=str(FIXTURES), max_tokens=300)
    assert [len(s.request.token_ids) for s in cut] == [300, 300]
    assert cut[0].truncated_tokens == len(docs[0].request.token_ids) - 300
    assert "words" not in cut[0].meta  # the text was cut: no word or byte figures
    with pytest.raises(UsageError, match="no document of source 'pg19' has the 5000 tokens"):
        samples("pg19", 5000, data_dir=str(FIXTURES))


def test_own_text_as_a_file_a_folder_or_jsonl(tmp_path):
    (tmp_path / "books" / "b").mkdir(parents=True)
    (tmp_path / "books" / "one.txt").write_text("First book. " * 20)
    (tmp_path / "books" / "b" / "two.txt").write_text("Second book. " * 20)
    rows = tmp_path / "docs.jsonl"
    rows.write_text(json.dumps({"text": "alpha " * 30}) + "\n\n" + json.dumps({"id": "x7", "text": "beta " * 30}) + "\n")
    assert [s.id for s in samples("perplexity", 32, data_file=str(tmp_path / "books"))] == ["b/two.txt", "one.txt"]
    assert [s.id for s in samples("perplexity", 32, data_file=str(tmp_path / "books/one.txt"))] == ["one.txt"]
    jsonl = samples("perplexity", 32, data_file=str(rows))
    assert [s.id for s in jsonl] == ["line-1", "x7"] and jsonl[0].meta["words"] == len(("alpha " * 30).split()) + 1
    (tmp_path / "bad.jsonl").write_text('{"body": "no text"}\n')
    with pytest.raises(UsageError, match="line 1 has no string field 'text'"):
        samples("perplexity", 32, data_file=str(tmp_path / "bad.jsonl"))


def test_data_file_runs_end_to_end_with_a_protocol_parameter(tmp_path):
    book = tmp_path / "book.txt"
    book.write_text((FIXTURES / "test/10001.txt").read_text())
    df = run(tmp_path, "perplexity", "-L", 64, "--data-file", book, "--param", "protocol=sliding", "--param", "stride=16")
    whole = df[df["position"].isna()].set_index("metric")["value"]
    assert whole["tokens"] == len(encode(byte_tokenizer(), book.read_text()))
    assert whole["perplexity"] == pytest.approx(np.exp(whole["nll"] / whole["tokens"]))
    assert json.loads(df["meta"].iloc[0])["stride"] == 16


def test_shakespeare_is_the_fixed_held_out_plays():
    assert [p.name for p in shakespeare_files()] == list(SHAKESPEARE_HELD_OUT)
    docs = samples("shakespeare", 1024, limit=1)
    assert docs[0].id == "hamlet" and docs[0].request.stride == 512 and docs[0].meta["protocol"] == "sliding"
    assert "PROJECT GUTENBERG" not in docs[0].prompt.upper()[:2000]


@pytest.mark.parametrize("args, says", [
    (["wikitext2", "-L", 64, "--data-dir", "{empty}"], "no wikitext-2-raw/wiki.test.raw in --data-dir"),
    (["wikitext103", "-L", 64, "--data-dir", "{empty}"], "unzip the WikiText raw archive wikitext-103-raw-v1.zip"),
    (["wikitext2", "-L", 64], "no --data-dir given and HF_HUB_OFFLINE is set"),
    (["pg19", "-L", 64, "--data-dir", "{empty}"], "gs://deepmind-gutenberg/test"),
    (["perplexity", "-L", 64], "pass --data-file"),
    (["perplexity", "-L", 64, "--data-file", "{empty}/nope.txt"], "does not exist"),
    (["wikitext2", "-L", 64, "--data-file", "x.txt"], "run the task 'perplexity' with --data-file"),
    (["shakespeare", "-L", 64, "--param", "stride=64"], "stride 64 must be below the length 64"),
    (["shakespeare", "-L", 64, "--param", "protocol=strided"], "must be one of disjoint, sliding, at-length"),
    (["wikitext2", "-L", 64, "--param", "stride=8", "--data-dir", "{fixtures}"], "protocol disjoint takes no stride"),
    (["shakespeare", "-L", 64, "--param", "strid=8"], "did you mean 'stride'"),
    (["shakespeare", "-L", 64, "--param", "novalue"], "is not key=value"),
])
def test_refusals_are_one_line_before_a_model_loads(tmp_path, monkeypatch, args, says):
    def no_load(*a, **k):
        raise AssertionError("a model was loaded for bad input")

    monkeypatch.setattr("toroidal_bench.models.loading.load_model", no_load)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "empty").mkdir()
    args = [str(a).format(empty=tmp_path / "empty", fixtures=FIXTURES) for a in args]
    assert says in refused(tmp_path, *args)


def test_position_buckets_are_log_spaced_and_end_at_the_span():
    assert position_buckets(1) == [(1, 2)]
    assert position_buckets(7) == [(1, 2), (2, 4), (4, 8)]
    assert position_buckets(10) == [(1, 2), (2, 4), (4, 8), (8, 11)]
    assert position_buckets(0) == []


def test_wikitext_pages_and_detokenizer_match_lm_eval():
    from lm_eval.tasks.wikitext.preprocess_wikitext import wikitext_detokenizer

    from toroidal_bench.tasks.perplexity.wikitext import detokenize, split_pages

    pages = split_pages((FIXTURES / "wikitext-2-raw/wiki.test.raw").read_text())
    assert [p.split("\n")[0] for p in pages] == [" = Harbour Lighthouse = ", " = Moss Campion = ", " = The Glass Road = "]
    for page in pages:
        assert detokenize(page) == wikitext_detokenizer({"page": page})
    assert "32.5 m (107 ft)" in detokenize(pages[0]) and "=== Keepers ===" in detokenize(pages[0])
