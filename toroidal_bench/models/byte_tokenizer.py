"""A byte-level tokenizer that needs no download: one token per UTF-8 byte plus BOS/EOS/PAD.

Built as a `tokenizers` BPE with the 256 byte symbols and no merges, wrapped in a
PreTrainedTokenizerFast, so it behaves like any HF tokenizer (batching, padding, decode, save).
"""

from __future__ import annotations

from functools import lru_cache

BOS, EOS, PAD = "<s>", "</s>", "<pad>"


@lru_cache(maxsize=1)
def byte_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {PAD: 0, BOS: 1, EOS: 2}
    for symbol in sorted(alphabet):
        vocab[symbol] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, padding_side="left",
        model_max_length=1 << 30,
    )


VOCAB_SIZE = 259
