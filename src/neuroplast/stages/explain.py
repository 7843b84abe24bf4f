"""The explain stage: attribution heatmaps for a run's inputs, and the sanity checks
(``neuroplast explain``, ``[explain]``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuroplast import rundir
from neuroplast.data import Dataset
from neuroplast.errors import UserError
from neuroplast.io import save_json
from neuroplast.rundir import Run
from neuroplast.spec import ExplainSpec
from neuroplast.trust.explain import attribute, save_heatmap
from neuroplast.trust.sanity import deletion_curve, randomization_test

SANITY_EXAMPLES = 100


def _unique_stems(paths: list[Path]) -> list[str]:
    """File names without suffix, numbered where two inputs share one (a/digit.png, b/digit.png ->
    digit, digit-2), so no heatmap overwrites another."""
    seen: dict[str, int] = {}
    names = []
    for p in paths:
        seen[p.stem] = seen.get(p.stem, 0) + 1
        names.append(p.stem if seen[p.stem] == 1 else f"{p.stem}-{seen[p.stem]}")
    return names


def explain(run_dir: str | Path, spec: ExplainSpec | None = None, *, out: str | Path | None = None,
            data: Dataset | None = None, inputs: list[Path] | None = None) -> Path:
    """Explain the run's predictions for ``inputs`` (image files), or for its first ``spec.count`` test
    examples, writing one heatmap PNG per example and ``explain.json`` into ``out`` (default
    ``RUN_DIR/explain-METHOD``); returns that folder.

    With ``spec.sanity``: the model-parameter randomisation test (Adebayo et al. 2018; median Spearman
    rank correlation between the attributions of the trained and a re-initialised model, low is
    good) and the deletion curve against a random ranking (Petsiuk et al. 2018; lower area is more
    faithful), on 100 test examples.
    """
    spec = ExplainSpec() if spec is None else spec
    run_dir = Path(run_dir)
    run = rundir.load(run_dir)
    if run.info["task"] != "classification" or len(run.info["input_shape"]) != 3:
        raise UserError(f"`neuroplast explain` draws heatmaps for image classifiers; {run_dir} is a "
                        f"{run.info['task']} model on inputs of shape {tuple(run.info['input_shape'])}. "
                        "Use neuroplast.trust.attribute(model, x) for tables and token models.")
    out_dir = rundir.stage_dir(run_dir, "explain", spec.method, out)
    if inputs:
        x = run.inputs([str(p) for p in inputs])
        names = [Path(p).name for p in inputs]
        stems = _unique_stems([Path(p) for p in inputs])
    else:
        data = _test_data(run, data, "Pass INPUT image files")
        x = data.x_test[: spec.count]
        names = stems = [f"test-{i}" for i in range(len(x))]
    model = run.model.eval()
    attr = attribute(model, x, method=spec.method)  # a method the model cannot take fails here, before any output
    out_dir.mkdir(parents=True, exist_ok=True)
    classes = run.class_names or [str(i) for i in range(run.info["output_width"])]
    examples = []
    for i, name in enumerate(names):
        png = save_heatmap(x[i], attr.values[i], out_dir / f"{stems[i]}-{spec.method}.png")
        item = {"input": name, "label": classes[int(attr.target[i])], "png": str(png)}
        if attr.delta is not None:
            item["delta"] = float(attr.delta[i])
        examples.append(item)
    result: dict[str, Any] = {"method": spec.method, "examples": examples}
    if spec.sanity:
        data = _test_data(run, data, "--sanity needs the run's test data")
        result["sanity"] = _sanity(model, data.x_test[:SANITY_EXAMPLES], spec.method)
    save_json(out_dir / "explain.json", json.loads(json.dumps(result)))
    return out_dir


def _test_data(run: Run, data: Dataset | None, need: str) -> Dataset:
    """The run's data, loaded from its spec unless given."""
    if data is not None:
        return data
    if run.spec is None:
        raise UserError(f"{need}: this run has no spec to reload its test data from.")
    return run.dataset()


def _sanity(model: torch.nn.Module, xs: torch.Tensor, method: str) -> dict[str, Any]:
    """The randomisation test and the deletion curve against a random ranking."""
    rho = randomization_test(model, xs, method=method)
    rho_abs = randomization_test(model, xs, method=method, absolute=True)
    curve = deletion_curve(model, xs, attribute(model, xs, method=method))
    return {"examples": len(xs), "randomization_spearman_median": float(np.nanmedian(rho)),
            "randomization_spearman_median_abs": float(np.nanmedian(rho_abs)),
            "deletion_area": float(curve.area), "random_deletion_area": float(curve.random_area)}
