"""Dynamic NTK with each sequence's own length (models/rotary.py DynamicNTKRotary): transformers'
frequencies exactly for one sequence, and a row's tokens independent of its batch and of earlier calls."""

import pytest
import torch

import toroidal_bench as tb
from toroidal_bench.models import architecture
from toroidal_bench.models.decoding import Decoder, Route
from toroidal_bench.models.rotary import DynamicNTKRotary

SPEC = "random:llama-tiny+dynamic-ntk(factor=2,original_max_position_embeddings=16)"  # L0 16: it bites
PROMPTS = [[5 + (7 * i + n) % 90 for i in range(n)] for n in (40, 23, 9)]
NEW = 12


@pytest.fixture(scope="module")
def runner():
    return tb.load(SPEC, device="cpu")


def _transformers_rotary(model):
    """The model with transformers' own "dynamic" rotary (per batch, remembered) back in place."""
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    architecture.replace_rotary(model, LlamaRotaryEmbedding(config=model.config))
    return model


@pytest.mark.parametrize("length", [1, 16, 17, 40, 1000, 131_072])
def test_frequencies_are_transformers_own(runner, length):
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    rotary = architecture.rotary_module(runner.model)
    assert isinstance(rotary, DynamicNTKRotary)
    theirs, _ = ROPE_INIT_FUNCTIONS["dynamic"](runner.model.config, "cpu", seq_len=torch.tensor(length))
    assert torch.equal(rotary.frequencies(torch.tensor([[length]])), theirs[None])


def _generate(model, prompts):
    tok = [[0] * (max(map(len, prompts)) - len(p)) + p for p in prompts]
    mask = [[0] * (max(map(len, prompts)) - len(p)) + [1] * len(p) for p in prompts]
    ids, mask = torch.tensor(tok), torch.tensor(mask)
    out = model.generate(ids, attention_mask=mask, max_new_tokens=NEW, do_sample=False, pad_token_id=0,
                         eos_token_id=None)
    return out[:, ids.shape[1]:].tolist()


def test_one_sequence_decodes_as_with_transformers_rotary(runner):
    """Beyond L0 the frequencies change at every step; one sequence sees transformers' exactly."""
    reference = _transformers_rotary(tb.load(SPEC, device="cpu").model)
    for prompt in PROMPTS:
        ids, mask = runner._left_pad([prompt])
        ours = Decoder(runner.model).decode(ids, mask, NEW, [], 0)
        assert runner.decoder.route.name == "static", runner.decode_route
        assert ours == _generate(reference, [prompt])


def _last_logits(model, prompts):
    """Each row's last-position logits from one left-padded forward."""
    from toroidal_bench.models.runner import positions

    width = max(map(len, prompts))
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, position_ids=positions(mask)).logits[:, -1]


def test_a_rows_tokens_do_not_depend_on_its_batch_or_on_earlier_calls(runner):
    alone = [Decoder(runner.model).decode(*runner._left_pad([p]), NEW, [], 0)[0] for p in PROMPTS]
    ids, mask = runner._left_pad(PROMPTS)
    assert Decoder(runner.model).decode(ids, mask, NEW, [], 0) == alone
    assert Decoder(runner.model, Route("eager")).decode(ids, mask, NEW, [], 0) == alone
    assert _generate(runner.model, PROMPTS) == alone


def test_a_rows_logits_do_not_depend_on_its_batch_or_on_earlier_calls(runner):
    short = PROMPTS[1]  # 23 tokens: beyond L0, shorter than the batch's 40
    fresh = _last_logits(runner.model, [short])[0]
    batched = _last_logits(runner.model, PROMPTS)[1]
    after = _last_logits(runner.model, [short])[0]
    gap = lambda a: float((a - fresh).abs().max())  # noqa: E731
    assert gap(batched) < 1e-6 and gap(after) == 0
    # transformers' rotary: the row takes the batch's length, and the next call remembers it
    reference = _transformers_rotary(tb.load(SPEC, device="cpu").model)
    assert gap(_last_logits(reference, [short])[0]) < 1e-6
    assert gap(_last_logits(reference, PROMPTS)[1]) > 1e-4
    assert gap(_last_logits(reference, [short])[0]) > 1e-4
