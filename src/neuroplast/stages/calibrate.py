"""The calibrate stage: fit an uncertainty method on a classifier run's validation split, score test
before and after, and write a calibrated run folder (``neuroplast calibrate``, ``[uncertainty]``).

The folder holds the parent's spec, model and weights plus ``metrics.json`` with ``calibration``
(method, fitted values, parent, and ``before`` / ``after`` test scores: accuracy, NLL, Brier, ECE; the
"not sure" ``threshold`` chosen on validation so that the answers kept reach ``target_accuracy``, with
test coverage and accuracy at it, and the accuracy-coverage curve; ``ece_floor``: the ECE a perfectly
calibrated model with the calibrated confidences would show on this test set) and ``reliability.png``.
With ``ood="mahalanobis"``, a feature-density model of the training split (``ood.safetensors``) and a
threshold at the 98% quantile of the validation scores: inputs above it are "not sure" however
confident the softmax is. ``then_temperature`` fits a temperature on the method's output afterwards;
with ``perturb`` that temperature (or the one of ``method="temperature"``) is fitted on up to 2,000
validation examples plus ten copies under Gaussian noise of growing strength
(:func:`neuroplast.trust.noise_perturbed`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuroplast import experiment, rundir
from neuroplast.data import Dataset
from neuroplast.errors import UserError
from neuroplast.plots import plot_reliability
from neuroplast.rundir import Run
from neuroplast.spec import UncertaintySpec
from neuroplast.train.progress import say
from neuroplast.trust import (
    ECE_BINS,
    Calibrator,
    DeepEnsemble,
    LaplaceApproximation,
    Mahalanobis,
    MCDropout,
    Prediction,
    TemperatureScaling,
    Uncalibrated,
    ece_floor,
    make_calibrator,
    noise_perturbed,
    reliability,
    scores,
    selective_curve,
    selective_threshold,
)

OOD_QUANTILE = 0.98  # validation inputs under the "unfamiliar" threshold
COPIED = ("spec.toml", "model.json", "model.safetensors", "preprocess.json")


def calibrate(run_dir: str | Path, spec: UncertaintySpec | None = None, *, out: str | Path | None = None,
              data: Dataset | None = None) -> Path:
    """Calibrate the classifier in ``run_dir`` as ``spec`` says and write the calibrated run folder
    (``out``, default ``RUN_DIR/calibrated-METHOD``); returns that folder.

    Example:
        >>> folder = calibrate("runs/digits-cnn-...", UncertaintySpec(method="temperature"))
        >>> neuroplast.load(folder).metrics["calibration"]["after"]["ece"]
    """
    spec = UncertaintySpec() if spec is None else spec
    run_dir = Path(run_dir)
    run = _calibratable(run_dir)
    out_dir = rundir.stage_dir(run_dir, "calibrate", spec.method, out)
    data = run.dataset() if data is None else data
    calibrator, described = _fit(run, spec, data, out_dir)
    before, after = Uncalibrated(run.model).predict(data.x_test), calibrator.predict(data.x_test)
    metrics = _scored(run, run_dir, spec, data, calibrator, described, before, after)
    if (warning := ece_warning(metrics["calibration"], spec.perturb)) is not None:
        say(warning)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, out_dir / name)
    if spec.ood is not None:
        metrics["calibration"]["ood"] = _fit_ood(run.model, data, out_dir)
    rundir.write_metrics(out_dir, metrics)
    plot_reliability({"uncalibrated": reliability(before.probs, data.y_test),
                      spec.method: reliability(after.probs, data.y_test)},
                     out_dir / "reliability.png")
    return out_dir


def _calibratable(run_dir: Path) -> Run:
    """The run, refused when it cannot be calibrated (no spec, not a classifier, already calibrated)."""
    run = rundir.load(run_dir)
    if run.spec is None:
        raise UserError(f"{run_dir} has no spec.toml to reload its data from; calibrate a run made by "
                        "`neuroplast run`.")
    if run.info["task"] != "classification":
        raise UserError(f"Calibration applies to classifiers; {run_dir} is a {run.info['task']} run.")
    if "calibration" in run.metrics:  # its model is the parent's: calibrating it again drops the first method
        raise UserError(f"{run_dir} is already calibrated ({run.metrics['calibration'].get('method')}); "
                        f"calibrate its parent {run.metrics.get('parent', 'run')} instead (add --then-temperature "
                        "to put a temperature after another method).")
    return run


def _fit(run: Run, spec: UncertaintySpec, data: Dataset, out_dir: Path) -> tuple[Calibrator, dict[str, Any]]:
    """The fitted method (then a temperature on top when asked) and what describes it in metrics.json."""
    base = Uncalibrated(run.model)
    x_fit, y_fit, perturbed = data.x_val, data.y_val, None  # what a temperature is fitted on
    if spec.perturb:  # validation plus noisy copies (levels set on the network alone)
        x_fit, y_fit, sigmas = noise_perturbed(base, data.x_val[:2000], data.y_val[:2000])
        perturbed = {"noise": "gaussian", "levels": len(sigmas), "sigmas": sigmas,
                     "val_samples": len(x_fit) // (len(sigmas) + 1)}
    per_network = None  # Laplace: each network's prior precision, for predict --uncertainty
    if spec.method == "ensemble":  # M - 1 more members of the same spec, from the next seeds
        members = 5 if spec.members is None else spec.members
        calibrator = DeepEnsemble([run.model, *train_members(run, members - 1, out_dir / "members", data)])
    elif spec.method == "laplace":  # the posterior's curvature comes from the training data
        members = 1 if spec.members is None else spec.members
        models = [run.model, *train_members(run, members - 1, out_dir / "members", data)]
        fitted = [make_calibrator("laplace", m).fit(data.x_train, data.y_train, val=(data.x_val, data.y_val))
                  for m in models]
        # more than one network: a mixture of Laplace approximations (Eschenhagen et al. 2021)
        calibrator = fitted[0] if members == 1 else DeepEnsemble(fitted)
        per_network = [f.describe() for f in fitted]
    else:  # temperature (on x_fit), MC dropout (nothing to fit)
        calibrator = make_calibrator(spec.method, run.model).fit(x_fit, y_fit)
    if spec.then_temperature:  # a temperature on top of the method's output
        inner = calibrator.describe()
        calibrator = TemperatureScaling(calibrator).fit(x_fit, y_fit)
        described = {**inner, "then_temperature": calibrator.temperature}
    else:
        described = calibrator.describe()
    return calibrator, _described(spec, described, perturbed, per_network)


def _described(spec: UncertaintySpec, described: dict[str, Any], perturbed: dict[str, Any] | None,
               per_network: list[dict[str, Any]] | None) -> dict[str, Any]:
    """What each part was fitted on, the noise levels, and each Laplace network's prior."""
    temperature_on = "val" if perturbed is None else "val + noise-perturbed copies"
    if perturbed is not None:
        described["perturbed"] = perturbed
    if spec.method == "temperature":
        described["fitted_on"] = temperature_on
    elif spec.then_temperature:
        described["fitted_on"] = f"{described.get('fitted_on', 'val')}; temperature: {temperature_on}"
    if per_network is not None:  # predict --uncertainty rebuilds each posterior with these
        described["prior_precision_per_network"] = [d["prior_precision"] for d in per_network]
        described["prior_from_per_network"] = [d["prior_from"] for d in per_network]
    return described


def ece_warning(calibration: dict[str, Any], perturbed: bool) -> str | None:
    """The warning a calibration that made the test ECE worse gets (None when it did not)."""
    before, after = calibration["before"]["ece"], calibration["after"]["ece"]
    if after <= before:
        return None
    why = ("a temperature fitted on noisy copies (--perturb) gives up calibration on clean inputs for calibration "
           "under shift" if perturbed else "keep the uncalibrated model or try another method")
    return f"WARNING: {calibration['method']} made the test ECE worse on clean data ({before:.2%} -> {after:.2%}): {why}."


def _scored(run: Run, run_dir: Path, spec: UncertaintySpec, data: Dataset, calibrator: Calibrator,
            described: dict[str, Any], before: Prediction, after: Prediction) -> dict[str, Any]:
    """metrics.json of the calibrated folder: test before and after, and the "not sure" threshold."""
    val_pred = calibrator.predict(data.x_val)
    threshold = selective_threshold(val_pred.confidence, val_pred.label == data.y_val, spec.target_accuracy)
    kept = after.confidence >= threshold
    right = after.label == data.y_test
    return {
        "name": run.metrics.get("name", run_dir.name),
        "task": "classification",
        "parent": str(run_dir.resolve()),
        "test": scores(after.probs, data.y_test),
        "calibration": {"method": spec.method, "fitted_on": "val", **described,
                        "val_samples": len(data.x_val), "test_samples": len(data.x_test), "ece_bins": ECE_BINS,
                        "before": scores(before.probs, data.y_test),
                        "after": scores(after.probs, data.y_test),
                        "ece_floor": ece_floor(after.probs),
                        "target_accuracy": spec.target_accuracy, "threshold": threshold,
                        "test_coverage_at_threshold": kept.float().mean().item(),
                        "test_accuracy_at_threshold": right[kept].float().mean().item() if kept.any()
                        else float("nan"),
                        "selective": selective_curve(after.confidence, right)},
    }


def _fit_ood(model: nn.Module, data: Dataset, out_dir: Path) -> dict[str, Any]:
    """A Mahalanobis density of the training features (``ood.safetensors``) and its threshold."""
    from safetensors.torch import save_file

    density = Mahalanobis().fit(model, data.x_train, data.y_train)
    threshold = float(torch.quantile(density.score(data.x_val), OOD_QUANTILE))
    save_file(density.state_dict(), str(out_dir / "ood.safetensors"))
    return {"method": "mahalanobis", "layer": density.layer, "threshold": threshold,
            "quantile": OOD_QUANTILE, "fitted_on": "train", "train_samples": len(data.x_train),
            "test_flagged": (density.score(data.x_test) > threshold).float().mean().item()}


def train_members(run: Run, count: int, folder: Path, data: Dataset | None = None) -> list[nn.Module]:
    """Train ``count`` more networks of ``run``'s spec with seeds seed+1, seed+2, ... (each its own
    run folder under ``folder``, so an interrupted ensemble keeps the members it finished). They share
    the parent's split, so ``data`` (the parent's, when given) is reused rather than loaded again."""
    # a new seed for the weights and the batches, the parent's split: the validation images that
    # calibrate the ensemble (and the test images) stay unseen by every member
    split = run.spec.data.split_seed if run.spec.data.split_seed is not None else run.spec.seed
    models = []
    for k in range(1, count + 1):
        member_dir = folder / f"seed-{run.spec.seed + k}"
        if (member_dir / rundir.METRICS).is_file():  # finished before, on the same split: reuse
            member = rundir.load(member_dir)
            if member.spec is not None and member.spec.data.split_seed == split:
                models.append(member.model)
                continue
        spec = run.spec.updated(seed=run.spec.seed + k, data={"split_seed": split}, uncertainty=None,
                                explain=None, prune=None)
        say(f"ensemble member {k + 1} of {count + 1} (seed {spec.seed}, {spec.train.epochs} epochs) -> {member_dir}")
        member = experiment.train(spec, data, out=member_dir, progress=False)
        score = member.metrics.get("val", {}).get("accuracy")
        say(f"ensemble member {k + 1} of {count + 1} done in {member.metrics['train']['seconds']:.1f} s"
            + (f", validation accuracy {score:.4f}" if isinstance(score, float) else ""))
        models.append(member.model)
    return models


# --------------------------------------------------------------------------- reading a calibrated folder
def calibrated_method(run: Run, data: Dataset | None = None) -> Calibrator:
    """The method a calibrated folder describes, built once for many inputs (members loaded, a Laplace
    posterior refitted on the training data with the prior calibrate chose), with the temperature of
    --then-temperature on top; a plain run folder gets temperature 1 (its own softmax)."""
    cal = run.metrics.get("calibration", {})
    method = cal.get("method")
    if method == "mc-dropout":
        calibrator: Calibrator = MCDropout(run.model, samples=cal.get("samples", 30))
    elif method == "ensemble":
        calibrator = DeepEnsemble(_networks(run))
    elif method == "laplace":  # the posterior is refitted on the training data (seconds per network)
        calibrator = _laplace(run, cal, run.dataset() if data is None else data)
    else:
        scaled = TemperatureScaling(run.model)
        scaled.temperature = cal.get("temperature", 1.0)
        return scaled
    if cal.get("then_temperature") is not None:
        calibrator = TemperatureScaling(calibrator)
        calibrator.temperature = cal["then_temperature"]
    return calibrator


def _laplace(run: Run, cal: dict[str, Any], data: Dataset) -> Calibrator:
    """Each network's Laplace posterior with the prior precision calibrate chose (older folders: the
    marginal likelihood's), mixed when there are several."""
    networks = _networks(run)
    priors = cal.get("prior_precision_per_network") or [None] * len(networks)
    if len(priors) != len(networks):
        raise UserError(f"{run.dir} was calibrated with {len(priors)} networks but members/ now holds "
                        f"{len(networks) - 1} besides the run's own. Run `neuroplast calibrate` again.")
    fitted = [LaplaceApproximation(m, cal.get("subset", "auto"), cal.get("hessian", "kron")).fit(
        data.x_train, data.y_train, prior_precision=prior) for m, prior in zip(networks, priors, strict=True)]
    return fitted[0] if len(fitted) == 1 else DeepEnsemble(fitted)


def _networks(run: Run) -> list[nn.Module]:
    """A calibrated folder's network and the members calibrate trained beside it (``members/seed-N``)."""
    return [run.model, *(rundir.load(d).model for d in sorted((run.dir / "members").glob("seed-*")))]


def ood_scores(run: Run, x: torch.Tensor) -> list[float]:
    """Mahalanobis distance of inputs' features from the training data (a folder calibrated with --ood)."""
    density = Mahalanobis(run.metrics["calibration"]["ood"]["layer"])
    density.load_state_dict(run.model, rundir.read_weights(run.dir / "ood.safetensors"))
    return density.score(x).tolist()
