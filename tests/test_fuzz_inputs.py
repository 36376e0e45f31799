"""Property-based fuzz of bad input through the CLI: specs, encoding and random-model arguments, suite
and task YAML, gate definitions, run options and results files.

Every generated input is bad. Each must exit 2 with one `error:` line on stderr (no traceback, no
`internal error`), within a few seconds (so no model loaded), and leave an existing results file
byte-for-byte untouched, even when the command names it with --overwrite or --resume.
"""

from __future__ import annotations

import os
import time

import pytest
import yaml
from helpers import rows, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from toroidal_bench.cli import app

#: examples per category; their sum is the number of bad inputs per run
EXAMPLES = {"specs": 200, "suites": 200, "task_files": 40, "options": 120, "results": 40}
#: a hang guard; that no model loads is checked directly (see `no_model_loads`)
SECONDS_PER_COMMAND = 10.0
def fuzz(category: str) -> settings:
    """Reproducible in CI: derandomized, no example database, our own time bound instead of hypothesis'."""
    return settings(max_examples=EXAMPLES[category], deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
ran: dict[str, int] = {}
cli = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A good results file and suite to name in bad commands, and a scratch folder for bad files."""
    root = tmp_path_factory.mktemp("fuzz")
    good = write(root / "good.parquet", rows("random:llama-tiny", "passkey", 256, "accuracy", [1.0, 0.0]))
    suite = root / "good.yaml"
    suite.write_text(yaml.safe_dump(GOOD_SUITE))
    assert cli.invoke(app, ["gate", str(good), "--suite", str(suite)]).exit_code == 0  # imports warm, files good
    return {"root": root, "good": good, "suite": suite}


@pytest.fixture(autouse=True)
def no_model_loads(monkeypatch):
    """Bad input must be refused before any model loads: loading fails the test outright."""
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded for bad input")

    monkeypatch.setattr("toroidal_bench.models.loading.load_model", refuse)


def refused(category: str, files, *args: str) -> None:
    """Run `tbench ARGS` and assert the one-line exit-2 refusal, the time bound and the untouched file."""
    good = files["good"]
    before = (good.read_bytes(), os.stat(good).st_mtime_ns)
    start = time.perf_counter()
    result = cli.invoke(app, [str(a) for a in args])
    took = time.perf_counter() - start
    lines = result.stderr.strip().splitlines()
    shown = f"tbench {' '.join(map(str, args))[:300]}\n{result.output[-600:]}"
    assert result.exit_code == 2, shown
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    assert "Traceback" not in result.output and "internal error" not in result.output, shown
    assert took < SECONDS_PER_COMMAND, f"{took:.1f}s: {shown}"
    assert (good.read_bytes(), os.stat(good).st_mtime_ns) == before, f"results file changed: {shown}"
    ran[category] = ran.get(category, 0) + 1


# -- specs: one bad component each, everything else valid ----------------------------------------------
huge_ints = st.integers(10**19, 10**60).map(str)
non_finite = st.sampled_from(["1e999", "-1e999", "1e400", "1.5e309", "nan", "inf", "-inf"])
float_args = st.sampled_from(["linear(factor={})", "ntk(factor={})", "dynamic-ntk(factor={})", "yarn(factor={})",
                              "yarn(factor=2,beta_fast={})", "toroidal(lambda={})", "attractor(inject=residual,gate={})"])
int_args = st.sampled_from(["toroidal(depth={})", "toroidal(window={})", "toroidal(period={})", "toroidal(rank={})",
                            "toroidal(chunk={})", "toroidal(layers={})", "hybrid(switch={})", "hybrid(width={})",
                            "attractor(horizon={})", "pi-spiral(radius_start={})", "yarn(factor=2,original_max_position_embeddings={})"])
out_of_range = st.one_of(
    st.tuples(st.sampled_from(["linear", "ntk", "dynamic-ntk", "yarn"]),
              st.one_of(st.floats(-1e300, 0.999), st.floats(4096.5, 1e300))).map(lambda t: f"{t[0]}(factor={t[1]!r})"),
    st.one_of(st.floats(-1e300, -1e-9), st.floats(1000.5, 1e300)).map(lambda v: f"toroidal(lambda={v!r})"),
    st.integers(1025, 10**18).map(lambda v: f"toroidal(depth={v})"),
    st.integers(2**24 + 1, 2**63 - 1).map(lambda v: f"toroidal(window={v})"),
    st.integers(-(2**63), 0).map(lambda v: f"toroidal(period={v})"),
    st.integers(1024, 2**63 - 1).map(lambda v: f"toroidal(layers={v})"),
    st.integers(1024, 10**12).map(lambda v: f"toroidal(layers=0..{v})"),
    st.integers(1025, 1300).map(lambda n: "toroidal(layers=" + "|".join(["0"] * n) + ")"),
    st.sampled_from(["exp:1e999", "exp:inf", "exp:nan", "fixed:nan", "fixed:1e999", "exp:0"]).map(
        lambda a: f"attractor(alpha={a})"),
    st.integers(-(2**63), -1).map(lambda v: f"pi-spiral(const=prng,seed={v})"),
)
wrong_type = st.sampled_from([
    "toroidal(depth=true)", "toroidal(depth=2.5)", "toroidal(lambda=abc)", "toroidal(layers=a|b)",
    "toroidal(fusion=sum)", "yarn(factor=true)", "linear(factor=x)", "attractor(inject=cross)", "alibi(slope=2)",
    "rope(x=1)", "toroidal(lambdaa=0.1)", "pi-spiral(const=tau)", "hybrid(switch=10,width=512)",
])
compositions = st.sampled_from([
    "alibi+toroidal", "toroidal+alibi", "alibi+attractor(inject=kv)", "toroidal+attractor", "alibi+yarn(factor=2)",
    "nope+linear(factor=2)", "yarn(factor=2)+nope", "alibi+nope", "linear(factor=2)+yarn(factor=2)",
    "ntk(factor=2)+dynamic-ntk(factor=2)", "yarn(factor=2)+yarn(factor=4)", "toroidal+toroidal(layers=1)",
    "pi-spiral+hybrid", "hybrid+pi-spiral", "hybrid+yarn(factor=2)", "pi-spiral+linear(factor=2)",
    "yarn(factor=2)+pi-spiral", "dynamic-ntk(factor=2)+hybrid", "toroidal(layers=0|1)+pi-spiral(layers=1)",
    "alibi+pi-spiral", "rope+rope",
])
random_models = st.one_of(
    st.integers(129, 10**18).map(lambda v: f"random:llama-tiny(layers={v})"),
    st.sampled_from(["layers=0", "layers=-1", "layers=1.5", "layers=true", "seed=-1", "seed=x",
                     "max_position_embeddings=0", "max_position_embeddings=99999999999", "heads=4", "seed=1e999",
                     f"seed={2**63}"]).map(lambda a: f"random:llama-tiny({a})"),
    huge_ints.map(lambda v: f"random:llama-tiny(seed={v})"),
    st.sampled_from(["random:llama-tiyn", "random:gpt2-tiny", "ref:anything", "gcs:model", "random:", "random:llama-tiny+",
                     "random:llama-tiny+Yarn", "random:llama-tiny+yarn(factor=2", "random:llama-tiny+yarn)",
                     "random:llama-tiny+yarn(factor)", "random:llama-tiny+yarn(factor=2,factor=3)",
                     "random:llama-tiny+alibbi", "local:/no/such/dir", "random:llama-tiny+rope(x=a b)"]),
    st.integers(4097, 6000).map(lambda n: "random:llama-tiny+rope(name=" + "a" * n + ")"),
)


@st.composite
def bad_specs(draw):
    kind = draw(st.sampled_from(["non_finite", "huge_int", "range", "type", "compose", "model"]))
    if kind == "non_finite":
        return "random:llama-tiny+" + draw(float_args).format(draw(non_finite))
    if kind == "huge_int":
        return "random:llama-tiny+" + draw(int_args).format(draw(huge_ints))
    if kind == "range":
        return "random:llama-tiny+" + draw(out_of_range)
    if kind == "type":
        return "random:llama-tiny+" + draw(wrong_type)
    if kind == "compose":
        return "random:llama-tiny+" + draw(compositions)
    return draw(random_models)


@st.composite
def too_long(draw):
    """(spec, length) with the length past what the spec can take."""
    positions = draw(st.integers(1, 4096))
    factor = draw(st.sampled_from([None, 1.5, 2, 4]))
    spec = f"random:llama-tiny(max_position_embeddings={positions})"
    limit = positions
    if factor:
        spec += f"+{draw(st.sampled_from(['yarn', 'linear', 'ntk']))}(factor={factor})"
        limit = int(positions * factor)
    return spec, draw(st.integers(limit + 1, limit + 10**6))


@fuzz("specs")
@given(spec=st.one_of(bad_specs(), too_long()), mode=st.sampled_from(["--overwrite", "--resume"]))
def test_bad_specs_are_refused_before_loading(files, spec, mode):
    spec, length = spec if isinstance(spec, tuple) else (spec, 256)
    refused("specs", files, "run", "task", "passkey", "--model", spec, "--length", length, "--limit", 1,
            "--out", files["good"], mode)


# -- suite YAML: a good suite with one field made bad -----------------------------------------------
GOOD_SUITE = {"name": "fuzz", "models": ["random:llama-tiny"], "tasks": ["passkey"], "lengths": [256], "limit": 1,
              "seed": 0, "gates": [{"task": "passkey", "metric": "accuracy", "op": ">=", "value": 0.0}]}
bad_length = st.one_of(st.text(min_size=1, max_size=5), st.booleans(), st.floats().filter(lambda f: f != 256),
                       st.integers(max_value=0), st.integers(min_value=2**24 + 1))
bad_limit = st.one_of(st.integers(max_value=0), st.integers(min_value=2**63), st.floats(), st.booleans(),
                      st.text(max_size=4), st.lists(st.integers(), max_size=2))
bad_seed = st.one_of(st.integers(max_value=-1), st.integers(min_value=2**63), st.floats(), st.booleans(),
                     st.text(max_size=4), st.none())
identifiers = st.from_regex(r"[a-z_]{1,12}", fullmatch=True)
PASSKEY_PARAMS = {"template", "noise", "needle", "question", "key_digits", "depths", "num_samples", "max_new_tokens",
                  "stop", "haystack_dir", "data_dir"}
bad_params = st.one_of(
    st.dictionaries(identifiers.filter(lambda k: k not in PASSKEY_PARAMS), st.integers(1, 5), min_size=1, max_size=2),
    st.builds(lambda k, v: {k: v}, st.sampled_from(["num_samples", "key_digits", "max_new_tokens"]),
              st.one_of(st.integers(max_value=0), st.integers(min_value=2**24 + 1), st.floats(), st.booleans(),
                        st.text(max_size=3))),
    st.builds(lambda v: {"depths": v}, st.one_of(st.lists(st.floats().filter(lambda f: not 0 <= f <= 1), min_size=1,
                                                          max_size=3), st.text(max_size=3), st.integers())),
    st.builds(lambda v: {"template": v}, st.one_of(st.integers(), st.lists(st.text(max_size=3), max_size=2))),
    st.sampled_from([[1], "x", 5]),
)
bad_gate = st.one_of(
    st.builds(lambda m: {"task": "passkey", "metric": m, "op": ">=", "value": 0.5},
              identifiers.filter(lambda m: m != "accuracy")),
    st.builds(lambda t: {"task": t, "metric": "accuracy", "op": ">=", "value": 0.5},
              identifiers.filter(lambda t: t != "passkey")),
    st.builds(lambda v: {"task": "passkey", "metric": "accuracy", "op": ">=", "value": v},
              st.one_of(st.text(max_size=4), st.booleans(), st.sampled_from([float("nan"), float("inf")]), st.none(),
                        st.lists(st.integers(), max_size=2))),
    st.builds(lambda o: {"task": "passkey", "metric": "accuracy", "op": o, "value": 0.5},
              st.one_of(st.text(max_size=3).filter(lambda o: o not in (">=", ">", "<=", "<", "==")), st.integers(),
                        st.lists(st.text(max_size=2), max_size=2))),
    st.builds(lambda d: {"task": "passkey", "metric": "accuracy", "max_drop": d},
              st.one_of(st.floats(max_value=-1e-9), st.text(max_size=3), st.booleans())),
    st.builds(lambda n: {"task": "passkey", "metric": "accuracy", "op": ">=", "value": 0.5, "context_length": n},
              st.one_of(st.integers().filter(lambda n: n != 256), st.text(max_size=3), st.floats())),
    st.builds(lambda k: {"task": "passkey", "metric": "accuracy", "op": ">=", "value": 0.5, k: 1},
              identifiers.filter(lambda k: k not in ("task", "metric", "context_length", "model", "op", "value",
                                                     "max_drop", "baseline"))),
    st.sampled_from([{"task": "passkey", "metric": "accuracy"}, {"task": "passkey"}, "x", 5, None,
                     {"task": "passkey", "metric": "accuracy", "op": ">=", "value": 0.5, "max_drop": 0.1},
                     {"task": "passkey", "metric": "accuracy", "op": ">=", "value": 0.5, "model": "random:llama-tny"}]),
)


@st.composite
def bad_suite_data(draw):
    """A suite mapping with one bad value (the YAML then written with safe_dump)."""
    data = dict(GOOD_SUITE)
    key = draw(st.sampled_from(["lengths", "limit", "seed", "params", "gates", "models", "tasks", "name", "extra",
                                "description"]))
    if key == "lengths":
        data["lengths"] = draw(st.one_of(
            st.lists(bad_length, min_size=1, max_size=3).map(lambda xs: [256, *xs]),
            st.just([256, 256]), st.just([]), bad_length))
    elif key == "limit":
        data["limit"] = draw(bad_limit)
    elif key == "seed":
        data["seed"] = draw(bad_seed)
    elif key == "params":
        data["params"] = draw(bad_params)
    elif key == "gates":
        data["gates"] = draw(st.one_of(st.lists(bad_gate, min_size=1, max_size=2), st.sampled_from([5, "x", {"a": 1}])))
    elif key == "models":
        data["models"] = draw(st.one_of(bad_specs().map(lambda s: [s]), st.just([5]), st.just([]), st.just("x"),
                                        st.just(["random:llama-tiny", "random:llama-tiny()"])))
    elif key == "tasks":
        data["tasks"] = draw(st.one_of(identifiers.filter(lambda t: t != "passkey").map(lambda t: [t]), st.just([5]),
                                       st.just(["passkey", "passkey"])))
    elif key == "name":
        data["name"] = draw(st.one_of(st.text(min_size=1, max_size=8).filter(lambda n: any(c in n for c in "/ \\:\n")),
                                      st.integers(), st.just("")))
    elif key == "description":
        data["description"] = draw(st.one_of(st.integers(), st.lists(st.text(max_size=2), min_size=1, max_size=2)))
    else:
        data[draw(identifiers.filter(lambda k: k not in GOOD_SUITE and k not in ("params", "description")))] = 1
    return yaml.safe_dump(data)


def _alias_bomb(width: int, depth: int) -> str:
    lines = [f"a0: &a0 [{','.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * width)}]" for i in range(1, depth)]
    return "\n".join(lines) + "\n"


raw_yaml = st.one_of(
    st.builds(_alias_bomb, st.integers(2, 12), st.integers(2, 12)).map(str.encode),
    st.sampled_from([b"models: [a]\nmodels: [b]\ntasks: [passkey]\nlengths: [256]\n", b"- 1\n- 2\n", b"42\n", b"",
                     b"\xff\xfe\x00models", b"models: [random:llama-tiny\n", b"models: !!python/object:os.system x\n",
                     b"\tmodels: x\n", b"{" * 3000, b"base: &b {models: [random:llama-tiny]}\n<<: *b\n"]),
    st.binary(min_size=1, max_size=200).filter(lambda b: b"\n" not in b and b"{" not in b and b"[" not in b),
)


@fuzz("suites")
@given(text=st.one_of(bad_suite_data().map(str.encode), raw_yaml), command=st.sampled_from(["run", "gate"]))
def test_bad_suite_files_are_refused(files, text, command):
    path = files["root"] / "bad-suite.yaml"
    path.write_bytes(text)
    if command == "run":
        refused("suites", files, "run", "suite", path, "--out", files["good"], "--overwrite")
    else:
        refused("suites", files, "gate", files["good"], "--suite", path)


@fuzz("task_files")
@given(params=bad_params.filter(lambda p: isinstance(p, dict)),
       family=st.sampled_from(["passkey", "passkey", "passkey", None]))
def test_bad_task_files_are_refused(files, params, family):
    path = files["root"] / "bad-task.yaml"
    data = {"family": family or 7, "params": {"template": "{context}{input}", **params}}
    path.write_text(yaml.safe_dump(data))
    refused("task_files", files, "run", "task", path, "--model", "random:llama-tiny", "--length", 256,
            "--out", files["good"], "--overwrite")


# -- run options ---------------------------------------------------------------------------------
bad_options = st.one_of(
    st.integers(max_value=-1).map(lambda s: ["--seed", s]),
    st.integers(2**63, 2**200).map(lambda s: ["--seed", s]),
    st.integers(max_value=0).map(lambda n: ["--length", n]),
    st.integers(2**24 + 1, 2**200).map(lambda n: ["--length", n]),
    st.integers(1, 10**6).map(lambda n: ["--length", n, "--length", n]),
    st.integers(2**63, 2**200).map(lambda n: ["--limit", n]),
    # checked by the preflight, before any model loads
    identifiers.filter(lambda d: d not in ("bf16", "fp16", "fp32", "bfloat16", "float16", "float32", "auto"))
    .map(lambda d: ["--dtype", d]),
    identifiers.filter(lambda a: a not in ("sdpa", "flex", "eager")).map(lambda a: ["--attn", a]),
    st.sampled_from(["cuda", "cuda:0", "cuda:7", "mps", "tpu", "cpu:x", "bogus"]).map(lambda d: ["--device", d]),
    st.from_regex(r"[a-z]{2,8}/[a-z0-9-]{2,12}", fullmatch=True).map(lambda m: ["--model", f"hf:{m}"]),
    st.sampled_from(["llama-tiny", "qwen2-tiny+rope", "phi-tiny+alibi"]).map(lambda m: ["--model", m]),
    identifiers.map(lambda d: ["--haystack-dir", f"/nonexistent/{d}"]),
    identifiers.map(lambda d: ["--data-dir", f"/nonexistent/{d}"]),
    st.integers(max_value=0).map(lambda n: ["--max-batch-tokens", n]),
    st.integers(1, 30).map(lambda n: ["--length", n]),  # shorter than passkey's needle and question
)


@fuzz("options")
@given(option=bad_options, mode=st.sampled_from(["--overwrite", "--resume"]))
def test_bad_run_options_are_refused(files, option, mode):
    length = [] if "--length" in option else ["--length", 256]
    model = [] if "--model" in option else ["--model", "random:llama-tiny"]
    refused("options", files, "run", "task", "passkey", *model, *length, *option,
            "--out", files["good"], mode)


# -- results files for compare and gate ------------------------------------------------------------
@st.composite
def bad_results(draw):
    kind = draw(st.sampled_from(["bytes", "truncated", "columns", "missing", "folder"]))
    if kind == "bytes":
        return "bytes", draw(st.binary(max_size=400))
    if kind == "truncated":
        return "truncated", draw(st.integers(0, 300))
    if kind == "columns":
        return "columns", draw(st.lists(identifiers, min_size=1, max_size=3, unique=True))
    return kind, None


def _write_bad_results(files, kind, payload):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = files["root"] / "bad.parquet"
    if path.is_dir():
        path.rmdir()
    path.unlink(missing_ok=True)
    if kind == "bytes":
        path.write_bytes(payload)
    elif kind == "truncated":
        path.write_bytes(files["good"].read_bytes()[:payload])
    elif kind == "columns":
        pq.write_table(pa.table({c: [1] for c in payload}), path)
    elif kind == "folder":
        path.mkdir()
    return path


@fuzz("results")
@given(bad=bad_results(), command=st.sampled_from(["compare", "gate", "baseline"]))
def test_bad_results_files_are_refused(files, bad, command):
    path = _write_bad_results(files, *bad)
    if command == "compare":
        refused("results", files, "compare", path, files["good"])
    elif command == "gate":
        refused("results", files, "gate", path, "--suite", files["suite"])
    else:
        refused("results", files, "gate", files["good"], "--suite", files["suite"], "--baseline", path)


def test_the_fuzz_ran_enough_bad_inputs():
    """Runs last (file order): the categories above together refused at least 500 inputs."""
    if set(ran) != set(EXAMPLES):
        pytest.skip("only part of the fuzz ran (selected with -k)")
    assert sum(ran.values()) >= 500, ran
    print(f"bad inputs refused: {sum(ran.values())} {ran}")
