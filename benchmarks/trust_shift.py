"""Calibration under shift and out-of-distribution detection, every method side by side in one run.

Trains M members of a spec (default ``mnist-cnn``, seeds 0..M-1, or from ``--first-seed``; the first is
"the model") and scores,
on MNIST test images rotated by 0, 30, 45 and 60 degrees (Ovadia et al. 2019): the uncalibrated
softmax, temperature scaling (fitted on the validation split, and on the validation split plus
copies under Gaussian noise of growing strength, Tomani et al. 2021), MC dropout (30 passes, when the network
has dropout), the deep ensemble of all members (alone and followed by a temperature), the last-layer
Laplace approximation (laplace-torch) and a mixture of one Laplace approximation per member (alone
and followed by the noise-perturbed temperature) —
accuracy, NLL and ECE (15 bins). Then out-of-distribution detection of the
Fashion-MNIST test set against the MNIST test set: AUROC and FPR at 95% TPR for max-softmax,
entropy, MC-dropout mutual information, ensemble max-probability and mutual information, and the
Mahalanobis distance on member 0's penultimate features.

    python benchmarks/trust_shift.py --data-dir ../shared/data --members 5

Members' weights are kept under ``--work`` and reused by a later run with the same spec and epochs.

The last line is ``shift_ece_ratio_min=R ood_best_auroc=A ood_best_method=M ood_maxsoftmax_auroc=B``
with R the smallest, over the rotated sets (30°, 45°, 60°), of uncalibrated ECE / best method's ECE.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import neuroplast
from neuroplast.data import load_dataset
from neuroplast.data.augment import make_augment, rotate
from neuroplast.io import load_weights, save_weights
from neuroplast.models import build_model
from neuroplast.train import fit
from neuroplast.trust import (
    DeepEnsemble,
    LaplaceApproximation,
    Mahalanobis,
    MCDropout,
    TemperatureScaling,
    Uncalibrated,
    noise_perturbed,
    ood_metrics,
    scores,
)

ANGLES = (0, 30, 45, 60)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data")
    p.add_argument("--spec", default="mnist-cnn")
    p.add_argument("--members", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0, help="members are seeds FIRST..FIRST+M-1 (another "
                   "set of networks for a repeat)")
    p.add_argument("--epochs", type=int, default=None, help="override the spec's epochs")
    p.add_argument("--work", type=Path, default=Path("runs/bench-trust-shift"),
                   help="members' weights are kept here and reused by the next run with the same settings")
    args = p.parse_args()
    spec = neuroplast.load_spec(args.spec).updated(data={"dir": str(args.data_dir / "mnist")})
    if args.epochs:
        spec = spec.updated(train={"epochs": args.epochs})
    if spec.data.val_fraction == 0:  # temperature scaling needs held-out data (mnist-fast trains on all)
        spec = spec.updated(data={"val_fraction": 0.1})
    mnist = load_dataset(spec.data, spec.seed)
    fashion = load_dataset(spec.data.model_copy(update={"source": "fashion-mnist",
                                                        "dir": args.data_dir / "fashion-mnist"}), spec.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    members = []
    for seed in range(args.first_seed, args.first_seed + args.members):
        t0 = time.perf_counter()
        torch.manual_seed(seed)
        model = build_model(spec.model, mnist.input_shape, mnist.num_outputs, mnist.task)
        saved = args.work / f"{args.spec}-e{spec.train.epochs}-s{seed}.safetensors"
        if saved.is_file():
            model.load_state_dict(load_weights(saved))
            model.to(device)
        else:
            fit(model, mnist, spec.train.model_copy(update={"device": device}), seed=seed, progress=False,
                augment=make_augment(spec.data.augment))
            saved.parent.mkdir(parents=True, exist_ok=True)
            save_weights(saved, model)
        members.append(model.eval())
        print(f"member {seed}: {time.perf_counter() - t0:.1f} s", flush=True)
    dev = next(members[0].parameters()).device
    x_val, y_val = mnist.x_val.to(dev), mnist.y_val.to(dev)
    x_test, y_test = mnist.x_test.to(dev), mnist.y_test.to(dev)
    x_train, y_train = mnist.x_train.to(dev), mnist.y_train.to(dev)  # once: the Laplace and density fits
    methods = {
        "uncalibrated": Uncalibrated(members[0]),
        "temperature": TemperatureScaling(members[0]).fit(x_val, y_val),
        f"ensemble x{len(members)}": DeepEnsemble(members),
        # last-layer Laplace fitted on the training split, prior by marginal likelihood
        "laplace": LaplaceApproximation(members[0]).fit(x_train, y_train),
    }
    ens = methods[f"ensemble x{len(members)}"]
    methods[f"ensemble x{len(members)}, then temperature"] = TemperatureScaling(ens).fit(x_val, y_val)
    # a mixture of Laplace approximations (Eschenhagen et al. 2021): each member's posterior predictive
    methods[f"laplace ensemble x{len(members)}"] = DeepEnsemble(
        [methods["laplace"], *(LaplaceApproximation(m).fit(x_train, y_train)
                               for m in members[1:])])
    # Tomani et al. 2021: temperatures fitted on validation images plus copies under Gaussian noise of
    # growing strength (accuracy from clean down to chance), a generic perturbation (not a rotation)
    x_pert, y_pert, sigmas = noise_perturbed(methods["uncalibrated"], x_val[:2000], y_val[:2000])
    print(f"noise levels (std, standardized pixels): {' '.join(f'{s:.2f}' for s in sigmas)}")
    methods["temperature, noise-perturbed validation"] = TemperatureScaling(members[0]).fit(x_pert, y_pert)
    methods[f"laplace ensemble x{len(members)}, then noise-perturbed temperature"] = TemperatureScaling(
        methods[f"laplace ensemble x{len(members)}"]).fit(x_pert, y_pert)
    if any(isinstance(m, torch.nn.Dropout) for m in members[0].modules()):
        methods["mc-dropout"] = MCDropout(members[0], samples=30)
    else:
        print("mc-dropout: left out, this spec's network has no dropout")
    for name, m in methods.items():
        if isinstance(m, TemperatureScaling):
            print(f"{name}: T = {m.temperature:.3f}")
    print("\n| rotation | method | accuracy | NLL | ECE |\n|---|---|---|---|---|")
    ratios = []
    for angle in ANGLES:
        xr = rotate(x_test, angle) if angle else x_test
        row = {name: scores(m.predict(xr).probs, y_test) for name, m in methods.items()}
        for name, s in row.items():
            print(f"| {angle}° | {name} | {s['accuracy']:.4f} | {s['nll']:.4f} | {s['ece']:.2%} |")
        best = min(s["ece"] for n, s in row.items() if n != "uncalibrated")
        if angle:  # the bar is about the shifted test sets
            ratios.append(row["uncalibrated"]["ece"] / max(best, 1e-9))
    # Out-of-distribution images go through the *model's* preprocessing (MNIST's mean and std), as a
    # deployed model would see them: undo Fashion-MNIST's own standardization first.
    f_pre, m_pre = fashion.preprocess, mnist.preprocess
    raw = fashion.x_test * f_pre["std"] + f_pre["mean"]
    x_ood = ((raw - m_pre["mean"]) / m_pre["std"]).to(dev)
    base, ens = methods["uncalibrated"], methods[f"ensemble x{len(members)}"]
    p_in, p_out = base.predict(x_test), base.predict(x_ood)
    e_in, e_out = ens.predict(x_test), ens.predict(x_ood)
    l_in, l_out = methods["laplace"].predict(x_test), methods["laplace"].predict(x_ood)
    maha = Mahalanobis("penultimate").fit(members[0], x_train, y_train)
    conv = Mahalanobis("features").fit(members[0], x_train, y_train)
    ood = {
        "max-softmax": ood_metrics(-p_in.confidence, -p_out.confidence),
        "entropy": ood_metrics(p_in.entropy, p_out.entropy),
        "laplace max-probability": ood_metrics(-l_in.confidence, -l_out.confidence),
        "ensemble max-probability": ood_metrics(-e_in.confidence, -e_out.confidence),
        "ensemble mutual information": ood_metrics(e_in.mutual_information, e_out.mutual_information),
        "Mahalanobis (penultimate features)": ood_metrics(maha.score(x_test), maha.score(x_ood)),
        "Mahalanobis (conv features)": ood_metrics(conv.score(x_test), conv.score(x_ood)),
    }
    if "mc-dropout" in methods:
        m_in, m_out = methods["mc-dropout"].predict(x_test), methods["mc-dropout"].predict(x_ood)
        ood["mc-dropout mutual information"] = ood_metrics(m_in.mutual_information, m_out.mutual_information)
    print("\n| OOD score (MNIST test vs Fashion-MNIST test) | AUROC | FPR at 95% TPR |\n|---|---|---|")
    for name, m in ood.items():
        print(f"| {name} | {m['auroc']:.4f} | {m['fpr_at_95_tpr']:.4f} |")
    best_name = max(ood, key=lambda n: ood[n]["auroc"])
    print(f"shift_ece_ratio_min={min(ratios):.2f} ood_best_auroc={ood[best_name]['auroc']:.4f} "
          f"ood_best_method={best_name.split(' ')[0]} ood_maxsoftmax_auroc={ood['max-softmax']['auroc']:.4f}")


if __name__ == "__main__":
    main()
