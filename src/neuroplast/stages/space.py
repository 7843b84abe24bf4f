"""The vector space, computed once per classification run on images or tables and stored small in its
folder (``space.safetensors``): where the first test examples land after each block, in 2-D, with the
principal components that place new inputs among them (the report's "Vector space" section and the
page's map read it; ``neuroplast.runfiles.read_space`` reads it back, validated).

The file holds, beside the tensors of :func:`neuroplast.trust.space.build_space`, ``indices`` (which test
examples, ``(N,)``), for image runs ``thumbnails`` (the examples as uint8 pictures ``(N, C, H, W)`` at the
model's input size, at most 32 pixels a side) and one JSON metadata entry ``space`` (version, method, N,
dims and each stage's name, features and 5-NN accuracy). A stage wider than :data:`MAX_FEATURES` is left
out, in one line on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from neuroplast.data import Dataset
from neuroplast.io import atomic_write
from neuroplast.rundir import Run
from neuroplast.runfiles import SPACE, SPACE_VERSION, THUMBNAIL_SIDE
from neuroplast.spec import SpaceSpec
from neuroplast.train.progress import say
from neuroplast.trust.space import build_space, principal, representations

MAX_FEATURES = 16_384  # wider stages are not stored: 16 components of 16,384 float32 features are 1 MB


def stores_space(run: Run) -> bool:
    """Whether a run gets a stored vector space: a classifier on images or table rows, or a character
    language model (its embedding table)."""
    return (run.info.get("task") == "classification" and run.preprocess.get("kind") in ("image", "table")) \
        or is_character_model(run.preprocess)


def is_character_model(preprocess: dict[str, Any]) -> bool:
    return preprocess.get("kind") == "text" and preprocess.get("mode") == "chars"


def embedding_table(model: torch.nn.Module, vocab_size: int) -> torch.Tensor | None:
    """The model's token embedding table (:func:`neuroplast.trust.token_space.embedding_table`) when it has
    one row per vocabulary entry, else None."""
    from neuroplast.trust.token_space import embedding_table as token_table

    table = token_table(model)
    return None if table is None or table.shape[0] != vocab_size else table


def character_space(table: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """A character model's stored space: one stage, ``embedding``, whose examples are the vocabulary's
    entries (``labels`` = their ids) at the first two principal components of the embedding table."""
    coords, mean, components = principal(table, 2)
    coords = coords.float()
    ids = torch.arange(len(table), dtype=torch.int64)
    tensors = {"labels": ids, "predicted": ids.clone(), "indices": ids.clone(), "stage0.mean": mean.float(),
               "stage0.components": components.float().contiguous(), "stage0.coords": coords.contiguous(),
               "stage0.points": coords.clone()}
    meta = {"version": SPACE_VERSION, "method": "pca", "examples": len(table), "dims": 2, "kind": "chars",
            "test_examples": len(table), "stages": [{"name": "embedding", "dims": int(table.shape[1]), "knn": None}]}
    return tensors, meta


def thumbnails(x: torch.Tensor, preprocess: dict[str, Any]) -> torch.Tensor:
    """Normalised images ``(N, C, H, W)`` back to uint8 pixels, shrunk (area average) to at most
    :data:`THUMBNAIL_SIDE` pixels a side."""
    raw = (x.float() * preprocess["std"] + preprocess["mean"]).clamp(0, 1)
    side = max(raw.shape[-2:])
    if side > THUMBNAIL_SIDE:
        size = tuple(max(1, round(s * THUMBNAIL_SIDE / side)) for s in raw.shape[-2:])
        raw = torch.nn.functional.interpolate(raw, size=size, mode="area")
    return (raw * 255).round().to(torch.uint8).contiguous()


def write_space(run: Run, data: Dataset, spec: SpaceSpec | None = None) -> Path | None:
    """Store the run's vector space in ``RUN_DIR/space.safetensors`` (atomically) from the first
    ``spec.examples`` test examples; returns the path, or None for a run that gets none (not a
    classifier on images or tables, no folder, fewer than 6 test examples)."""
    spec = spec or SpaceSpec()
    if run.dir is not None and is_character_model(run.preprocess):
        table = embedding_table(run.model, len(run.preprocess["vocab"]))
        if table is None or len(table) <= 5:
            return None
        path = Path(run.dir) / SPACE
        atomic_write(path, lambda p: _save(*character_space(table), p))
        return path
    if run.dir is None or not stores_space(run) or len(data.x_test) <= 5:
        return None
    x, y = data.x_test[:spec.examples].cpu(), data.y_test[:spec.examples].cpu()
    stages = representations(run.model, x)
    predicted = run.objective.predict(stages["output"])
    wide = {n: v.shape[1] for n, v in stages.items() if v.shape[1] > MAX_FEATURES}
    if wide:  # said, not silently left out: e.g. the input of 224x224 photos
        say(f"vector space: {', '.join(f'{n} ({d:,} features)' for n, d in wide.items())} not stored: wider than "
            f"{MAX_FEATURES:,} features (its principal components alone would outweigh the rest of the file)")
        stages = {n: v for n, v in stages.items() if n not in wide}
    if not stages:
        return None
    tensors, facts = build_space(stages, y, predicted, method=spec.method, dims=spec.dims, seed=0)
    tensors["indices"] = torch.arange(len(x), dtype=torch.int64)
    if run.preprocess.get("kind") == "image":
        tensors["thumbnails"] = thumbnails(x, run.preprocess)
    meta = {"version": SPACE_VERSION, "method": spec.method, "examples": len(x), "dims": spec.dims,
            "kind": run.preprocess["kind"], "test_examples": len(data.x_test), "stages": facts}
    path = Path(run.dir) / SPACE
    atomic_write(path, lambda p: _save(tensors, meta, p))
    return path


def _save(tensors: dict[str, torch.Tensor], meta: dict[str, Any], path: Path) -> None:
    from safetensors.torch import save_file

    save_file(tensors, str(path), metadata={"space": json.dumps(meta)})
