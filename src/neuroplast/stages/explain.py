"""``neuroplast explain``: attribution heatmaps for a run's inputs, and the sanity checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from neuroplast.errors import UserError, check_output


def _unique_stems(paths: list[Path]) -> list[str]:
    """File names without suffix, numbered where two inputs share one (a/digit.png, b/digit.png ->
    digit, digit-2), so no heatmap overwrites another."""
    seen: dict[str, int] = {}
    names = []
    for p in paths:
        seen[p.stem] = seen.get(p.stem, 0) + 1
        names.append(p.stem if seen[p.stem] == 1 else f"{p.stem}-{seen[p.stem]}")
    return names


def explain_run(run_dir: str | Path, inputs: list[Path] | None = None, method: str = "ig",
                out: str | Path | None = None, count: int = 8, sanity: bool = False) -> dict[str, Any]:
    """Explain the run's predictions for ``inputs`` (image files), or for its first ``count`` test
    examples, writing one heatmap PNG per example and ``explain.json``.

    With ``sanity``: the model-parameter randomisation test (Adebayo et al. 2018; median Spearman
    rank correlation between the attributions of the trained and a re-initialised model, low is
    good) and the deletion curve against a random ranking (Petsiuk et al. 2018; lower area is more
    faithful), on 100 test examples.
    """
    from neuroplast.data import load_dataset
    from neuroplast.rundir import load
    from neuroplast.io import save_json
    from neuroplast.trust.explain import attribute, deletion_curve, randomization_test, save_heatmap

    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UserError(f"count (--count) must be a whole number of test examples, at least 1; received "
                        f"{count!r}.")
    run_dir = Path(run_dir)
    run = load(run_dir)
    if run.info["task"] != "classification" or len(run.info["input_shape"]) != 3:
        raise UserError(f"`neuroplast explain` draws heatmaps for image classifiers; {run_dir} is a "
                        f"{run.info['task']} model on inputs of shape {tuple(run.info['input_shape'])}. "
                        "Use neuroplast.trust.attribute(model, x) for tables and token models.")
    out_dir = Path(out) if out is not None else run_dir / f"explain-{method}"
    check_output(out_dir, "folder", str(run_dir / f"explain-{method}"))
    data = None
    if inputs:
        x = run.inputs([str(p) for p in inputs])
        names = [Path(p).name for p in inputs]
        stems = _unique_stems([Path(p) for p in inputs])
    else:
        if run.spec is None:
            raise UserError("Pass INPUT image files: this run has no spec to reload its test data from.")
        data = load_dataset(run.spec.data, run.spec.seed)
        x = data.x_test[:count]
        names = stems = [f"test-{i}" for i in range(len(x))]
    model = run.model.eval()
    attr = attribute(model, x, method=method)  # a method the model cannot take fails here, before any output
    out_dir.mkdir(parents=True, exist_ok=True)
    classes = run.class_names or [str(i) for i in range(run.info["output_width"])]
    examples = []
    for i, name in enumerate(names):
        png = save_heatmap(x[i], attr.values[i], out_dir / f"{stems[i]}-{method}.png")
        item = {"input": name, "label": classes[int(attr.target[i])], "png": str(png)}
        if attr.delta is not None:
            item["delta"] = float(attr.delta[i])
        examples.append(item)
    result: dict[str, Any] = {"method": method, "examples": examples}
    if sanity:
        if data is None:
            if run.spec is None:
                raise UserError("--sanity needs the run's test data; this run has no spec to reload it from.")
            data = load_dataset(run.spec.data, run.spec.seed)
        xs = data.x_test[:100]
        rho = randomization_test(model, xs, method=method)
        rho_abs = randomization_test(model, xs, method=method, absolute=True)
        curve = deletion_curve(model, xs, attribute(model, xs, method=method))
        result["sanity"] = {"examples": len(xs), "randomization_spearman_median": float(np.nanmedian(rho)),
                            "randomization_spearman_median_abs": float(np.nanmedian(rho_abs)),
                            "deletion_area": float(curve.area), "random_deletion_area": float(curve.random_area)}
    save_json(out_dir / "explain.json", json.loads(json.dumps(result)))
    if out_dir.parent.resolve() == run_dir.resolve():  # the run's report shows its explain-* folders
        from neuroplast.see.report import rewrite_report

        rewrite_report(run_dir)
    result["dir"] = str(out_dir)
    return result
