"""Tokenizers for the task tests, built offline: byte-level, and BPEs trained with `tokenizers`."""

from __future__ import annotations

from functools import cache


def _wrap(tok):
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   model_max_length=1 << 30)


@cache
def trained_bpe(style: str = "gpt2", vocab_size: int = 2000):
    """A BPE trained on 1 MB of the Shakespeare haystack plus digits/uuid-like text.

    style "gpt2": byte-level pre-tokenizer (GPT-2 / Llama-3 family); "sentencepiece": Metaspace with a
    dummy prefix (Llama-2 family), where a piece encoded alone would gain a leading "▁"."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from toroidal_bench.tasks.haystack import load_source

    text = load_source({}).text[:1_000_000]
    extra = " ".join(f"{i} {i:07d} 0x{i * 2654435761 % 2**32:08x}" for i in range(3000))
    if style == "gpt2":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        tok = Tokenizer(models.BPE(byte_fallback=True, unk_token=None))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
        tok.decoder = decoders.Sequence([decoders.Metaspace(replacement="▁", prepend_scheme="first"),
                                         decoders.ByteFallback()])
        alphabet = [f"<0x{i:02X}>" for i in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=alphabet if style == "gpt2" else [], show_progress=False)
    tok.train_from_iterator([text[i: i + 10_000] for i in range(0, len(text), 10_000)] + [extra], trainer)
    if style != "gpt2":
        tok.add_tokens(alphabet)  # byte fallback pieces, so any text encodes
    return _wrap(tok)


def byte_level():
    from toroidal_bench.models.byte_tokenizer import byte_tokenizer

    return byte_tokenizer()


@cache
def trained_unigram(vocab_size: int = 2000):
    """A SentencePiece-style Unigram tokenizer (Metaspace with a dummy prefix, as in T5 and XLNet), trained
    offline on part of the same text as `trained_bpe`. Pieces never span a space but may span newlines
    and punctuation, so "\\nThe" or ".\\n" can be one piece in context and several when encoded apart."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from toroidal_bench.tasks.haystack import load_source

    text = load_source({}).text[:100_000]
    extra = [" ".join(f"{i} {i:07d} 0x{i * 2654435761 % 2**32:08x}" for i in range(j, j + 100))
             for j in range(0, 3000, 100)]
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    alphabet = [chr(c) for c in range(32, 127)] + ["\n", "▁"]
    # a small seed and fast shrinking: a few seconds of training instead of a minute
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
                                      unk_token="<unk>", initial_alphabet=alphabet, max_piece_length=16,
                                      seed_size=20_000, n_sub_iterations=1, shrinking_factor=0.5,
                                      show_progress=False)
    tok.train_from_iterator([text[i: i + 10_000] for i in range(0, len(text), 10_000)] + extra, trainer)
    return _wrap(tok)
