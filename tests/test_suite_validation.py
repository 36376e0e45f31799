"""Suite and task YAML are validated, never coerced; lengths are checked against what a spec can take."""

import json
import time

import pytest

from toroidal_bench.encodings.context import check_length, max_length
from toroidal_bench.errors import UsageError
from toroidal_bench.models.loading import resolve
from toroidal_bench.suites import expand, load_suite
from toroidal_bench.tasks.catalog import load_task_file, read_yaml

GOOD = "models: [random:llama-tiny]\ntasks: [passkey]\nlengths: [256]\n"


def _suite(tmp_path, text):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("extra, msg", [
    ("limit: -1\n", "limit -1"),
    ("limit: 1.5\n", "limit 1.5"),
    ("limit: true\n", "limit True"),
    ("seed: -1\n", "seed -1"),
    ("seed: 18446744073709551616\n", "seed 18446744073709551616"),
    ("seed: 2.0\n", "seed 2.0"),
    ("params: {num_sample: 3}\n", "did you mean 'num_samples'"),
    ("params: {num_samples: 2.5}\n", "must be an integer in"),
    ("params: {num_samples: true}\n", "must be an integer in"),
    ("params: [1]\n", "'params' in"),
    ("name: ../elsewhere/x\n", "'name' in"),
    ("description: [1]\n", "'description' in"),
    ("gates: 5\n", "'gates' in"),
    ("gates: [{task: passkey, metric: acuracy, op: '>=', value: 0.5}]\n", "did you mean 'accuracy'"),
    ("gates: [{task: paskey, metric: accuracy, op: '>=', value: 0.5}]\n", "did you mean 'passkey'"),
    ("gates: [{task: passkey, metric: accuracy, op: '>=', value: 0.5, context_length: 512}]\n", "not among"),
    ("gates: [{task: passkey, metric: accuracy, op: '>=', value: 0.5, model: 'random:llama-tny'}]\n",
     "did you mean 'random:llama-tiny'"),
])
def test_bad_suite_values_are_refused(tmp_path, extra, msg):
    with pytest.raises(UsageError) as info:
        load_suite(_suite(tmp_path, GOOD + extra))
    assert msg in info.value.line()


@pytest.mark.parametrize("lengths, msg", [
    ("[abc]", "'abc'"), ("[.inf]", "inf"), ("[.nan]", "nan"), ("[512.7]", "512.7"), ("[512.0]", "512.0"),
    ("[true]", "True"), ("[0]", "length 0"), ("[-5]", "-5"), ("[99999999999]", "99999999999"),
    ("[256, 256]", "listed twice"),
])
def test_suite_lengths_are_whole_positive_and_distinct(tmp_path, lengths, msg):
    text = GOOD.replace("lengths: [256]", f"lengths: {lengths}")
    with pytest.raises(UsageError, match="length") as info:
        load_suite(_suite(tmp_path, text))
    assert msg in info.value.line()


def test_a_good_suite_keeps_its_values(tmp_path):
    suite = load_suite(_suite(tmp_path, GOOD + "limit: 3\nseed: 7\nparams: {num_samples: 4}\n"
                                       "gates: [{task: passkey, metric: accuracy, op: '>=', value: 0}]\n"))
    assert (suite.lengths, suite.limit, suite.seed, suite.params) == ((256,), 3, 7, {"num_samples": 4})


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    start = time.perf_counter()
    with pytest.raises(UsageError, match="anchors and aliases"):
        load_suite(_suite(tmp_path, "\n".join(lines) + "\n"))
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize("raw, msg", [
    (b"models: [a]\nmodels: [b]\n", "duplicate key 'models'"),
    (b"\xff\xfe models", "not UTF-8"),
    (b"[" * 5000, "malformed YAML"),
    (b"a: [1", "malformed YAML"),
])
def test_yaml_that_is_not_plain_data_is_refused(tmp_path, raw, msg):
    path = tmp_path / "x.yaml"
    path.write_bytes(raw)
    with pytest.raises(UsageError, match=msg):
        read_yaml(path)


def test_an_oversized_yaml_file_is_refused_unread(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * (2 << 20) + b"\n")
    with pytest.raises(UsageError, match="larger than"):
        read_yaml(path)


@pytest.mark.parametrize("params, msg", [
    ("{key_digit: 5}", "did you mean 'key_digits'"),
    ("{key_digits: 5.5}", "key_digits"),
    ("{depths: [0.5, 2]}", "numbers in [0, 1]"),
    ("{stop: stop}", "list of strings"),
])
def test_task_file_params_are_checked(tmp_path, params, msg):
    path = tmp_path / "t.yaml"
    path.write_text(f"family: passkey\nparams: {params}\n")
    with pytest.raises(UsageError, match="parameter") as info:
        load_task_file(path)
    assert msg in info.value.line()


def test_run_overrides_are_checked_against_each_task():
    with pytest.raises(UsageError, match="has no parameter 'nosuch'"):
        expand(["random:llama-tiny"], ["passkey"], [256], params={"nosuch": 1})


@pytest.mark.parametrize("kwargs, msg", [
    ({"seed": -1}, "seed -1"), ({"seed": 2**64}, "seed"), ({"limit": 0}, "limit 0"), ({"limit": 2**70}, "limit"),
    ({"lengths": [256, 256]}, "listed twice"), ({"lengths": [2**30]}, "length"),
    ({"models": ["random:llama-tiny", "random:llama-tiny()"]}, "given twice"),
])
def test_expand_validates_its_arguments(kwargs, msg):
    args = {"models": ["random:llama-tiny"], "tasks": ["passkey"], "lengths": [256], **kwargs}
    with pytest.raises(UsageError, match=msg):
        expand(args.pop("models"), args.pop("tasks"), args.pop("lengths"), **args)


# -- lengths against a spec's context limit ---------------------------------------------------------
@pytest.mark.parametrize("spec, limit", [
    ("random:llama-tiny", 131072),
    ("random:llama-tiny(max_position_embeddings=16)", 16),
    ("random:llama-tiny(max_position_embeddings=16)+yarn(factor=4)", 64),
    ("random:llama-tiny(max_position_embeddings=16)+yarn(factor=4,original_max_position_embeddings=8)", 32),
    ("random:llama-tiny(max_position_embeddings=16)+linear(factor=2.5)+toroidal", 40),
    ("random:llama-tiny(max_position_embeddings=16)+alibi", None),
    ("random:llama-tiny(max_position_embeddings=16)+nope+toroidal", None),
    ("hf:no-such-org/no-such-model", None),
])
def test_max_length_is_known_without_weights(spec, limit):
    assert max_length(resolve(spec)) == limit


def test_a_length_beyond_the_model_is_refused_before_loading():
    with pytest.raises(UsageError, match="exceeds the 16 positions"):
        expand(["random:llama-tiny(max_position_embeddings=16)"], ["passkey"], [512])
    check_length(resolve("random:llama-tiny(max_position_embeddings=16)+yarn(factor=32)"), 512)


def test_a_local_model_limit_comes_from_its_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "max_position_embeddings": 128}))
    resolved = resolve(f"local:{tmp_path}")
    assert max_length(resolved) == 128
    with pytest.raises(UsageError, match="exceeds the 128 positions"):
        check_length(resolved, 129)
