"""Text corpora for language-model training, each tokenized once into one flat token array.

- `shakespeare`: the bundled Project Gutenberg plays and poems (`shakespeare` package, modern
  spelling `*_gut.txt`). A fixed split of whole works: `HELD_OUT` is the validation set (never
  trained on), everything else is the training set. The First Folio editions (`*_gut_f.txt`) are
  other printings of the same plays and are used by neither split.
- a local `.txt` file, a folder of `.txt` files, or a `.jsonl` file with a `text` field per line.
- `datasets` hub ids: `wikitext2`, `openwebtext`, `pg19` (their train splits; needs the hub or a
  filled `datasets` cache).

Documents are joined with the tokenizer's EOS token, so a training window may cross a boundary the
way it does in most LM pre-training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from ..tasks.haystack import SHAKESPEARE_HELD_OUT as HELD_OUT

#: tbench name → (datasets path, config, text field, streamed)
HUB = {
    "wikitext2": ("wikitext", "wikitext-2-raw-v1", "text", False),
    "openwebtext": ("Skylion007/openwebtext", None, "text", True),
    "pg19": ("emozilla/pg19", None, "text", True),
}
#: characters read from a streamed hub corpus: plenty for the budgets tbench trains with
STREAM_CHARS = 400_000_000


def shakespeare_files(split: str) -> list[Path]:
    """The works of one split ('train' or 'validation'), sorted by file name."""
    from ..tasks.haystack import shakespeare_dir

    if split not in ("train", "validation"):
        raise UsageError(f"unknown Shakespeare split '{split}'", "valid splits: train, validation")
    files = sorted(shakespeare_dir().glob("*_gut.txt"))
    return [f for f in files if (f.name in HELD_OUT) == (split == "validation")]


def shakespeare_texts(split: str = "train") -> list[str]:
    from ..tasks.haystack import strip_gutenberg

    return [strip_gutenberg(f.read_text(encoding="utf-8", errors="replace")) for f in shakespeare_files(split)]


def is_text_path(name: str) -> bool:
    path = Path(name).expanduser()
    return path.is_dir() or (path.is_file() and path.suffix in (".txt", ".jsonl"))


def local_texts(name: str) -> list[str]:
    path = Path(name).expanduser()
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise UsageError(f"no .txt files in '{path}'", "pass a folder of .txt files, a .txt or a .jsonl file")
        return [f.read_text(encoding="utf-8", errors="replace") for f in files]
    if path.suffix == ".txt":
        return [path.read_text(encoding="utf-8", errors="replace")]
    from ..tasks.perplexity.sources import jsonl_texts

    texts = [text for _, text in jsonl_texts(path)]
    if not texts:
        raise UsageError(f"{path} holds no records")
    return texts


def hub_texts(name: str) -> list[str]:
    """A hub corpus's train split (up to STREAM_CHARS characters for the streamed ones)."""
    from ..models.hub import offline

    path, config, field, streamed = HUB[name]
    fix = "run on a machine with hub access once (it fills the datasets cache), or pass --data with local files"
    if offline():
        raise UsageError(f"dataset '{name}' needs the Hugging Face hub, and HF_HUB_OFFLINE is set", fix)
    try:
        import datasets

        ds = datasets.load_dataset(path, config, split="train", streaming=streamed)
        texts, total = [], 0
        for record in ds:
            text = record[field]
            if text:
                texts.append(text)
                total += len(text)
            if streamed and total >= STREAM_CHARS:
                break
    except Exception as exc:  # network, missing dataset, schema: one line, not a traceback
        raise UsageError(f"cannot load dataset '{name}' ({path}): {' '.join(str(exc).split())[:160]}", fix) from None
    return texts


def texts_for(name: str) -> list[str]:
    if name == "shakespeare":
        return shakespeare_texts("train")
    if name in HUB:
        return hub_texts(name)
    return local_texts(name)


_TOKENIZED: dict[tuple[str, int], np.ndarray] = {}


def tokens_for(name: str, tokenizer: Any) -> np.ndarray:
    """The corpus `name` tokenized, kept for the process (several runs in one process tokenize once)."""
    key = (name, id(tokenizer))
    if key not in _TOKENIZED:
        _TOKENIZED[key] = tokenize(texts_for(name), tokenizer)
    return _TOKENIZED[key]


def tokenize(texts: list[str], tokenizer: Any) -> np.ndarray:
    """All texts as one int32 token array, documents separated by EOS."""
    eos = tokenizer.eos_token_id
    parts = []
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        parts.append(np.asarray(ids, dtype=np.int32))
        if eos is not None:
            parts.append(np.asarray([eos], dtype=np.int32))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
