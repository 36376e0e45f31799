import pytest
from helpers import rows, write

from toroidal_bench import results
from toroidal_bench.errors import UsageError
from toroidal_bench.gates import evaluate, parse_gates


def _df(tmp_path, rs, name="r.parquet"):
    return results.read(write(tmp_path / name, rs))


def gates(*items):
    return parse_gates(list(items), "test")


def test_absolute_gate_passes_and_fails(tmp_path):
    df = _df(tmp_path, rows("m", "passkey", 512, "accuracy", [1.0, 0.0, 1.0, 1.0]))
    ok = evaluate(gates({"task": "passkey", "metric": "accuracy", "op": ">=", "value": 0.75}), df)
    bad = evaluate(gates({"task": "passkey", "metric": "accuracy", "op": ">", "value": 0.75}), df)
    assert ok[0].passed and ok[0].observed == 0.75
    assert not bad[0].passed and "is not >" in bad[0].reason


def test_gate_with_no_matching_rows_fails(tmp_path):
    df = _df(tmp_path, rows("m", "passkey", 512, "accuracy", [1.0]))
    v = evaluate(gates({"task": "passkey", "metric": "accuracy", "context_length": 4096, "op": ">=", "value": 0}), df)
    assert not v[0].passed and v[0].reason == "no matching rows"


def test_gate_over_failed_cells_fails_even_if_the_rest_pass(tmp_path):
    df = _df(tmp_path, rows("m", "t", 512, "acc", [1.0, 1.0]) + rows("m", "t", 512, "acc", [None], error="OOM", cell="d"))
    v = evaluate(gates({"task": "t", "metric": "acc", "op": ">=", "value": 0.0}), df)
    assert not v[0].passed and "failed cells" in v[0].reason


def test_gates_check_every_spec(tmp_path):
    df = _df(tmp_path, rows("a", "t", 256, "acc", [1.0]) + rows("b", "t", 256, "acc", [0.0]))
    v = evaluate(gates({"task": "t", "metric": "acc", "op": ">=", "value": 0.5}), df)
    assert [(x.model_spec, x.passed) for x in v] == [("a", True), ("b", False)]


def test_relative_gate_against_a_baseline(tmp_path):
    base = _df(tmp_path, rows("m", "t", 256, "acc", [1.0, 1.0, 1.0, 0.0]), "base.parquet")
    cur = _df(tmp_path, rows("m", "t", 256, "acc", [1.0, 1.0, 0.0, 0.0]))
    g = gates({"task": "t", "metric": "acc", "max_drop": 0.1})
    v = evaluate(g, cur, base)
    assert not v[0].passed and v[0].threshold == pytest.approx(0.65) and "dropped 0.25" in v[0].reason
    assert evaluate(gates({"task": "t", "metric": "acc", "max_drop": 0.3}), cur, base)[0].passed
    assert not evaluate(g, cur, None)[0].passed  # no baseline → fail, never pass


@pytest.mark.parametrize("bad, msg", [
    ({"metric": "a", "op": ">=", "value": 1}, "needs 'task' and 'metric'"),
    ({"task": "t", "metric": "a", "op": "=>", "value": 1}, "op must be one of"),
    ({"task": "t", "metric": "a"}, "one of op\\+value, max_drop"),
    ({"task": "t", "metric": "a", "op": ">=", "value": 1, "max_drop": 0.1}, "one of op\\+value, max_drop"),
    ({"task": "t", "metric": "a", "max_drop": 0.1, "typo": 1}, "unknown keys: typo"),
    ({"task": "t", "metric": "a", "op": ">=", "value": "abc"}, "value must be a finite number"),
    ({"task": "t", "metric": "a", "op": ">=", "value": True}, "value must be a finite number"),
    ({"task": "t", "metric": "a", "op": ">=", "value": float("nan")}, "value must be a finite number"),
    ({"task": "t", "metric": "a", "op": ">=", "value": float("inf")}, "value must be a finite number"),
    ({"task": "t", "metric": "a", "op": [">="], "value": 1}, "op must be one of"),
    ({"task": "t", "metric": "a", "max_drop": -0.1}, "max_drop must be a finite number ≥ 0"),
    ({"task": "t", "metric": "a", "op": ">=", "value": 1, "context_length": "abc"}, "context_length must be"),
    ({"task": "t", "metric": "a", "op": ">=", "value": 1, "context_length": 256.5}, "context_length must be"),
    ({"task": 3, "metric": "a", "op": ">=", "value": 1}, "task must be a non-empty one-line string"),
    ({"task": "t", "metric": "a", "op": ">=", "value": 1, "baseline": ["x"]}, "baseline must be"),
    ({"task": "t", "metric": "a", 1: 2, "op": ">=", "value": 1}, "unknown keys: 1"),
])
def test_malformed_gates_are_usage_errors(bad, msg):
    with pytest.raises(UsageError, match=msg):
        parse_gates([bad], "suite.yaml")


def test_gates_must_be_a_list():
    with pytest.raises(UsageError, match="must be a list"):
        parse_gates(5, "suite.yaml")


def test_no_gates_is_an_error_not_a_pass(tmp_path):
    with pytest.raises(UsageError, match="no gates"):
        evaluate((), _df(tmp_path, rows("m", "t", 256, "acc", [1.0])))
