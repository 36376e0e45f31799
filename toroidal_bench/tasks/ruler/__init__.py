"""RULER (NVIDIA/RULER): the 13 synthetic tasks, generated in token space with the model's tokenizer."""
