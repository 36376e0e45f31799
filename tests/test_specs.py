import pytest
from hypothesis import given
from hypothesis import strategies as st

from toroidal_bench.errors import SpecError, UnknownNameError
from toroidal_bench.models.loading import resolve
from toroidal_bench.specs import format_value, parse_spec, parse_value


def test_default_scheme_is_hf_and_canonical_is_explicit():
    spec = parse_spec("Qwen/Qwen2.5-1.5B+yarn(factor=4)")
    assert spec.model.scheme == "hf"
    assert spec.canonical() == "hf:Qwen/Qwen2.5-1.5B+yarn(factor=4)"


def test_arguments_sorted_and_values_typed():
    spec = parse_spec("random:llama-tiny+toroidal(lambda=0.1,depth=4,layers=0..3,fusion=low_rank,flag=true)")
    args = dict(spec.encodings[0].args)
    assert args == {"lambda": 0.1, "depth": 4, "layers": (0, 1, 2, 3), "fusion": "low_rank", "flag": True}
    assert spec.canonical() == "random:llama-tiny+toroidal(depth=4,flag=true,fusion=low_rank,lambda=0.1,layers=0..3)"


def test_lists_and_strings_with_colons():
    assert parse_value("a|b") == ("a", "b")
    assert parse_value("0|2") == (0, 2)
    assert parse_value("exp:1.0") == "exp:1.0"
    assert parse_value("-3..-1") == (-3, -2, -1)


@pytest.mark.parametrize("bad, token", [
    ("", "empty"),
    ("random:llama-tiny+", "empty component"),
    ("random:llama-tiny+yarn(factor=4", "unbalanced '('"),
    ("random:llama-tiny+yarn(factor)", "bad argument 'factor'"),
    ("random:llama-tiny+yarn(factor=4,factor=2)", "given twice"),
    ("gcs:model", "unknown model scheme 'gcs:'"),
    ("random:llama-tiny+Yarn", "bad encoding name 'Yarn'"),
    ("random:llama-tiny+rope(x=a b)", "bad value 'a b'"),
    ("random:llama-tiny+rope(layers=3..1)", "empty range '3..1'"),
    ("random:llama-tiny+yarn(factor=1e999)", "out of range"),
    ("random:llama-tiny(seed=99999999999999999999)", "out of range"),
    ("random:llama-tiny(seed=" + "9" * 5000 + ")", "too long"),
    ("random:llama-tiny+toroidal(layers=0..99999999)", "holds 100000000 values"),
    ("random:llama-tiny+toroidal(layers=0..9223372036854775808)", "out of range"),
    ("random:llama-tiny+toroidal(layers=" + "0|" * 1100 + "0)", "list of 1101 values"),
])
def test_malformed_specs_name_the_bad_token(bad, token):
    with pytest.raises(SpecError) as info:
        parse_spec(bad)
    assert token in str(info.value)


def test_unknown_encoding_suggests_the_close_name():
    with pytest.raises(UnknownNameError) as info:
        resolve("random:llama-tiny+alibbi")
    assert "did you mean 'alibi'" in info.value.line()
    assert "rope" in info.value.line()


def test_unknown_encoding_argument_lists_valid_ones():
    with pytest.raises(SpecError, match="has no argument 'factor'"):
        resolve("random:llama-tiny+alibi(factor=2)")


def test_resolved_canonical_drops_nothing_for_argumentless_encodings():
    assert resolve("random:llama-tiny+rope+alibi").canonical() == "random:llama-tiny+rope+alibi"


# -- property: parse(canonical(parse(s))) == parse(s) ------------------------------------------
names = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True)
keys = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True)
atoms = st.one_of(
    st.integers(-10**6, 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=64).filter(lambda f: abs(f) < 1e12),
    st.booleans(),
    st.from_regex(r"[a-z][a-z0-9_:/.\-]{0,8}", fullmatch=True).filter(
        lambda s: s not in ("true", "false") and ".." not in s),
)
values = st.one_of(atoms, st.lists(st.integers(-50, 50), min_size=2, max_size=5).map(tuple))
encodings = st.tuples(names, st.dictionaries(keys, values, max_size=4))
models = st.tuples(st.sampled_from(["hf", "local", "random"]), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_./-]{0,12}", fullmatch=True))


def _text(model, encs):
    def args(d):
        return "(" + ",".join(f"{k}={format_value(v)}" for k, v in d.items()) + ")" if d else ""

    return f"{model[0]}:{model[1]}" + "".join(f"+{n}{args(a)}" for n, a in encs)


@given(models, st.lists(encodings, max_size=3))
def test_canonical_round_trips(model, encs):
    text = _text(model, encs)
    spec = parse_spec(text)
    again = parse_spec(spec.canonical())
    assert again == parse_spec(again.canonical())
    assert again.canonical() == spec.canonical()
    assert [dict(e.args) for e in again.encodings] == [dict(e.args) for e in spec.encodings]


@given(st.text(max_size=40))
def test_parsing_is_total(text):
    try:
        parse_spec(text)
    except SpecError:
        pass  # any failure must be the one-line SpecError, never another exception


@pytest.mark.parametrize("bad, token", [
    ("random:llama-tiny+linear(factor=4097)", "factor must lie in"),
    ("random:llama-tiny+ntk(factor=0.5)", "factor must be ≥ 1"),
    ("random:llama-tiny+yarn(factor=2,original_max_position_embeddings=0)", "original_max_position_embeddings"),
    ("random:llama-tiny+toroidal(lambda=1e6)", "lambda must lie in"),
    ("random:llama-tiny+toroidal(depth=100000)", "depth must lie in"),
    ("random:llama-tiny+toroidal(window=99999999999)", "window must lie in"),
    ("random:llama-tiny+toroidal(layers=5000)", "layers must lie in"),
    ("random:llama-tiny+toroidal(depth=true)", "expected an integer"),
    ("random:llama-tiny+attractor(alpha=exp:1e999)", "bad alpha"),
    ("random:llama-tiny+pi-spiral(const=prng,seed=-1)", "seed must lie in"),
    ("random:llama-tiny(layers=1000000000)", "layers=1000000000 must be an integer in [1, 128]"),
    ("random:llama-tiny(layers=0)", "must be an integer in"),
    ("random:llama-tiny(max_position_embeddings=99999999999)", "must be an integer in"),
    ("random:llama-tiny(seed=1.5)", "must be an integer in"),
])
def test_arguments_are_checked_by_type_and_range(bad, token):
    with pytest.raises(SpecError) as info:
        resolve(bad)
    assert token in info.value.line()


@pytest.mark.parametrize("bad, token", [
    ("alibi+toroidal", "both replace the attention"),
    ("toroidal+attractor(inject=kv)", "both replace the attention"),
    ("alibi+yarn(factor=2)", "'alibi' already replaced the rotary"),
    ("yarn(factor=2)+nope", "'nope' would switch off"),
    ("alibi+nope", "'alibi' already replaced the rotary"),
    ("linear(factor=2)+yarn(factor=2)", "both set the RoPE scaling"),
    ("yarn(factor=2)+yarn(factor=4)", "the second would override the first"),
    ("pi-spiral+hybrid", "'pi-spiral' already replaced the rotary"),
    ("hybrid+yarn(factor=2)", "write 'yarn' before 'hybrid'"),
    ("yarn(factor=2)+pi-spiral", "discards the scaled frequencies"),
    ("dynamic-ntk(factor=2)+hybrid", "fixed RoPE frequencies"),
    ("toroidal(layers=0|1)+pi-spiral(layers=1)", "layer 1"),
])
def test_encodings_that_cannot_compose_are_refused(bad, token):
    with pytest.raises(SpecError) as info:
        resolve(f"random:llama-tiny+{bad}")
    assert token in info.value.line()


@pytest.mark.parametrize("good", [
    "rope+alibi", "yarn(factor=4)+toroidal", "linear(factor=2)+attractor", "yarn(factor=2)+hybrid",
    "ntk(factor=2)+pi-spiral(layers=0)", "pi-spiral+toroidal", "nope+toroidal", "toroidal+attractor(inject=residual)",
    "alibi+attractor(inject=residual)", "toroidal(layers=0)+pi-spiral(layers=1)",
])
def test_encodings_that_compose_resolve(good):
    assert resolve(f"random:llama-tiny+{good}").encodings
