"""Diagnostics as a task: the analyses of `tbench diagnose`, run on a cell's model at the cell's
length, written as result rows so a suite can compare and gate them (π-Spiral's phase 7).

One "sample" per analysis, its figures as metrics:
  collision  min_distance, near_collisions: how close the encodings of two positions come within the
             context (the angles of the model's own rotary: RoPE, NTK and YaRN as their scaled
             `inv_freq`, π-Spiral and the hybrid as their phase ladders). Encodings without a rotary
             (ALiBi, toroidal, NoPE) and dynamic NTK (its angles change with each input's length)
             have no rows here: nothing fixed to measure, and a gate on them fails.
  spectral   spectral_entropy, spectral_octaves: how evenly the angles' power spreads over frequencies.
  attention  attention_entropy, attention_distance (and attractor_slot_mass where an attractor
             slot exists): means over every layer and head of the attention weights on real text
             (the haystack) of min(length, attention_tokens) tokens, through eager attention.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import UsageError
from . import task_family
from .base import Rolling, Sample, TaskFamily, encode, special_prefix

ANALYSES = ("collision", "spectral", "attention")
#: encodings whose rotary is the model's own `inv_freq`, rescaled or not
_INV_FREQ = ("none", "rope", "ntk", "yarn", "linear", "attractor")
_NO_ROTARY = ("alibi", "toroidal", "nope")
#: dynamic NTK rescales its frequencies with each input's length: no one set of angles to analyse
_UNMODELLED = ("dynamic-ntk",)


@task_family("diagnostics")
class Diagnostics(TaskFamily):
    version = "1"
    parameters = {"analyses": "texts", "attention_tokens": "count", "haystack_dir": "text"}
    metrics = ("min_distance", "near_collisions", "spectral_entropy", "spectral_octaves", "attention_entropy",
               "attention_distance", "attractor_slot_mass")

    def evaluate(self, runner: Any, length: int, seed: int, limit: int | None,
                 progress: Callable[[int], None] | None = None) -> list[tuple[Sample, Any, dict[str, float]]]:
        analyses = tuple(self.params.get("analyses") or ANALYSES)
        unknown = [a for a in analyses if a not in ANALYSES]
        if unknown:
            raise UsageError(f"unknown analysis '{unknown[0]}' in the diagnostics task",
                             f"choose from {', '.join(ANALYSES)}")
        out = []
        label = _encoding_label(runner)
        geometry = _geometry(runner.model, label) if {"collision", "spectral"} & set(analyses) else None
        for analysis in analyses:
            if analysis == "attention":
                out.append(self._attention(runner, length))
            elif geometry is not None:
                out.append(_rotary(analysis, geometry, length))
            if progress:
                progress(1)
        return out

    def _attention(self, runner: Any, length: int) -> tuple[Sample, Any, dict[str, float]]:
        import torch

        from ..diagnostics import attention_maps
        from .haystack import load_source

        n = min(length, int(self.params.get("attention_tokens", 256)))
        text = load_source(self.params).text
        ids = (special_prefix(runner.tokenizer) + encode(runner.tokenizer, text[: n * 16]))[:n]
        maps = attention_maps.attention_maps(runner.model, torch.tensor([ids]))
        heads = attention_maps.head_stats(maps)
        scores = {"attention_entropy": float(np.mean([h.entropy for h in heads])),
                  "attention_distance": float(np.mean([h.mean_distance for h in heads]))}
        if any(m.shape[-1] > m.shape[1] for m in maps):
            scores["attractor_slot_mass"] = float(np.mean([h.slot_mass for h in heads]))
        sample = Sample(id="attention", request=Rolling(tuple(ids)), reference=None,
                        prompt=runner.tokenizer.decode(ids),
                        meta={"tokens": len(ids), "layers": len(maps), "heads": len(heads)})
        return sample, None, scores


def _rotary(analysis: str, geometry, length: int) -> tuple[Sample, Any, dict[str, float]]:
    from ..diagnostics import collision, spectral

    if analysis == "collision":
        stats, _ = collision.collision_stats(geometry, length)
        scores = {"min_distance": stats.min_distance, "near_collisions": float(stats.near_collisions)}
    else:
        stats, _ = spectral.spectral_stats(geometry, min(length, 1 << 16))
        scores = {"spectral_entropy": stats.entropy, "spectral_octaves": stats.octaves}
    facts = {k: v for k, v in stats.row().items() if isinstance(v, (int, float, str))}
    sample = Sample(id=analysis, request=Rolling(()), reference=None,
                    prompt=f"{analysis} of {geometry.label} over {length} positions", meta=facts)
    return sample, None, scores


def _encoding_label(runner: Any) -> str:
    from ..models.loading import resolve

    return resolve(runner.spec).encoding_label if runner.spec else "none"


def _geometry(model: Any, label: str):
    """The angles the model rotates by, or None where it has no rotary to analyse."""
    from ..diagnostics import geometry
    from ..encodings.pi_spiral import phases
    from ..models import architecture

    names = [part.split("(")[0] for part in label.split("+")]
    if any(n in _NO_ROTARY or n in _UNMODELLED for n in names):
        return None
    inv_freq = architecture.rotary_module(model).inv_freq.detach().float().cpu().numpy()
    if all(n in _INV_FREQ for n in names):
        return geometry.Geometry(label, len(inv_freq), phases.from_angular(inv_freq))
    base = float(model.config.rope_parameters.get("rope_theta", 10000.0))
    return geometry.from_spec(label.replace("none", "rope"), 2 * len(inv_freq), base)
