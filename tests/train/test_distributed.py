"""Data-parallel training under torchrun: 2 CPU processes (gloo) take the same steps as one process
with the same global batch, only rank 0 writes the run folder, and a resumed torchrun job finishes
like an uninterrupted single-process run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import neuroplast

# digits MLP without dropout (each rank would draw its own masks); 1293 training rows in batches of
# 64 leave a last batch of 13, split 7 + 6 over the two ranks.
SETTINGS = ["model.family=mlp", "model.hidden=[32]", "model.dropout=0", "train.epochs=3", "train.batch_size=64",
            "train.optimizer=adam", "train.lr=0.003", "train.schedule=none", "train.threads=1", "train.device=cpu"]


def _torchrun(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "neuroplast", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path: Path) -> None:
    sets = [a for s in SETTINGS for a in ("--set", s)]
    proc = _torchrun(tmp_path, "run", "digits-mlp", "--out", "ddp", "--quiet", *sets)
    assert proc.stdout.count("run folder:") == 1  # rank 0 alone reports
    single = neuroplast.run("digits-mlp", out=tmp_path / "single", overrides=SETTINGS, progress=False)

    ddp_dir = tmp_path / "ddp"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp", "single"]  # one folder, no strays
    a, b = load_file(ddp_dir / "model.safetensors"), load_file(tmp_path / "single/model.safetensors")
    for k in b:
        assert torch.allclose(a[k], b[k], atol=1e-5), (k, (a[k] - b[k]).abs().max())
    metrics = neuroplast.load(ddp_dir).metrics
    assert metrics["processes"] == 2
    assert metrics["test"]["accuracy"] == pytest.approx(single.metrics["test"]["accuracy"], abs=1e-3)
    ddp_loss = [h["train_loss"] for h in neuroplast.load(ddp_dir).history]
    assert ddp_loss == pytest.approx([h["train_loss"] for h in single.history], rel=1e-4)

    # Resume under torchrun: stretch the finished 3-epoch run to 4 epochs and continue it.
    spec_file = ddp_dir / "spec.toml"
    spec_file.write_text(spec_file.read_text().replace("epochs = 3", "epochs = 4"))
    _torchrun(tmp_path, "resume", "ddp", "--quiet")
    neuroplast.run("digits-mlp", out=tmp_path / "single4", progress=False,
                   overrides=[*SETTINGS, "train.epochs=4"])
    a, b = load_file(ddp_dir / "model.safetensors"), load_file(tmp_path / "single4/model.safetensors")
    for k in b:
        assert torch.allclose(a[k], b[k], atol=1e-5), (k, (a[k] - b[k]).abs().max())
