"""The prune stage: pruned run folders that reload in a fresh process, from Python, the CLI and the [prune] section."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import neuroplast
from neuroplast import prune as prune_run
from neuroplast.cli import main
from neuroplast.data import load_dataset


def _digits_run(tmp_path: Path, **changes) -> Path:
    out = tmp_path / "parent"
    neuroplast.run("digits-mlp", out=out, progress=False, train={"epochs": 4, **changes.pop("train", {})}, **changes)
    return out



def _predictions_in_a_fresh_process(run_dir: Path) -> np.ndarray:
    code = ("import json, sys, neuroplast; r = neuroplast.load(sys.argv[1]); "
            "from neuroplast.data import load_dataset; x = load_dataset(r.spec.data, r.spec.seed).x_test; "
            "print(json.dumps(r.outputs(x).tolist()))")
    out = subprocess.run([sys.executable, "-c", code, str(run_dir)], capture_output=True, text=True, check=True)
    return np.array(json.loads(out.stdout))



@pytest.mark.parametrize("method", ["magnitude", "structured"])
def test_pruned_runs_reload_in_a_fresh_process_with_identical_predictions(tmp_path: Path, capsys,
                                                                          method: str) -> None:
    parent = _digits_run(tmp_path)
    sparsity = "0.8" if method == "magnitude" else "0.5"
    code = main(["prune", str(parent), "--method", method, "--sparsity", sparsity, "--schedule", "iterative",
                 "--rounds", "2", "--out", str(tmp_path / "pruned"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "bytes on disk" in out and "latency batch 256" in out
    pruned = neuroplast.load(tmp_path / "pruned")
    m = pruned.metrics
    assert m["parent"] == str(parent.resolve())
    p = m["pruning"]
    assert [row["round"] for row in p["curve"]] == [0, 1, 2]
    assert set(p["latency_ms"]) == {"batch_1", "batch_256"}
    assert p["bytes"]["pruned"] < p["bytes"]["dense"] and p["bytes"]["file"] == p["bytes"]["pruned"]
    data = load_dataset(pruned.spec.data, pruned.spec.seed)
    expected = pruned.outputs(data.x_test).numpy()
    np.testing.assert_array_equal(_predictions_in_a_fresh_process(tmp_path / "pruned"), expected)
    if method == "magnitude":
        assert p["sparsity"] == pytest.approx(0.8, abs=0.01)
        assert p["params"]["pruned"] == p["params"]["dense"]
        assert "latency did not drop" in p.get("note", "") or p["latency_ms"]["batch_256"]["speedup"] >= 1.1
    else:  # physically smaller: fewer parameters, and the spec records the new widths
        assert p["params"]["pruned"] < p["params"]["dense"]
        assert list(pruned.spec.model.hidden) == [w for w in p["widths"]["pruned"].values()]
        assert pruned.spec.model.hidden[0] == round(neuroplast.load(parent).spec.model.hidden[0] * 0.5)
    assert (tmp_path / "pruned" / "pruning.png").stat().st_size > 1000
    # the plain-PyTorch model.py reads the compact file with torch and safetensors only
    script = ("import sys, json, torch; sys.path.insert(0, sys.argv[1]); from model import build; "
              "print(json.dumps(build()(torch.tensor(json.loads(sys.argv[2]))).tolist()))")
    x = data.x_test[:3]
    got = subprocess.run([sys.executable, "-c", script, str(tmp_path / "pruned"), json.dumps(x.tolist())],
                         capture_output=True, text=True, check=True, cwd=tmp_path)
    np.testing.assert_allclose(np.array(json.loads(got.stdout)), expected[:3], atol=1e-5)



def test_structured_names_the_layers_it_cannot_prune(tmp_path: Path, caplog, capsys) -> None:
    parent = _digits_run(tmp_path, model={"family": "lstm", "hidden_size": 8, "bidirectional": True},
                         train={"epochs": 1})
    with caplog.at_level(logging.WARNING):
        code = main(["prune", str(parent), "--method", "structured", "--sparsity", "0.5", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "rnn (LSTM)" in err and len(err.strip().splitlines()) == 1
    assert any("rnn (LSTM)" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    # magnitude pruning does prune its recurrent weights
    run = prune_run(parent, method="magnitude", sparsity=0.5, out=tmp_path / "m", progress=False, final_epochs=1, latency_repeats=3)
    assert run.metrics["pruning"]["layer_sparsity"]["rnn.weight_hh_l0"] > 0.2



def test_structured_recurrent_run_reloads_smaller(tmp_path: Path) -> None:
    parent = _digits_run(tmp_path, model={"family": "gru", "hidden_size": 16}, train={"epochs": 2})
    run = prune_run(parent, method="structured", sparsity=0.5, out=tmp_path / "s", progress=False, final_epochs=1,
                    latency_repeats=3)
    assert run.spec.model.hidden_size == 8 and run.model.rnn.hidden_size == 8
    p = run.metrics["pruning"]
    assert p["params"]["pruned"] < p["params"]["dense"] and p["bytes"]["pruned"] < p["bytes"]["dense"]
    data = load_dataset(run.spec.data, run.spec.seed)
    np.testing.assert_array_equal(_predictions_in_a_fresh_process(tmp_path / "s"), run.outputs(data.x_test).numpy())



def test_lottery_rewinds_to_the_reproduced_early_weights(tmp_path: Path) -> None:
    parent = _digits_run(tmp_path)
    run = prune_run(parent, method="magnitude", sparsity=0.5, schedule="lottery", rounds=1, epochs=2, rewind_epoch=0,
                    out=tmp_path / "lt", progress=False, latency_repeats=3)
    assert run.metrics["pruning"]["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert run.metrics["pruning"]["curve"][-1]["test_accuracy"] > 0.8



def test_prune_section_runs_after_training_and_bad_input_is_one_line(tmp_path: Path, capsys) -> None:
    parent = _digits_run(tmp_path, prune={"method": "magnitude", "sparsity": 0.5, "rounds": 1})
    m = json.loads((parent / "pruned-magnitude" / "metrics.json").read_text())
    assert m["pruning"]["sparsity"] == pytest.approx(0.5, abs=0.01)
    code = main(["prune", str(parent), "--sparsity", "1.5"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("neuroplast: error: --sparsity (prune.sparsity): Input should be less than 1; received 1.5") and "\n" not in err
    code = main(["prune", str(tmp_path / "nowhere")])
    assert code == 2 and "not a neuroplast run folder" in capsys.readouterr().err
    code = main(["prune", str(parent), "--out", str(parent)])
    assert code == 2 and "is the run being read; choose a new folder" in capsys.readouterr().err
    for args, says in [(["--schedule", "one-shot", "--rounds", "3"], "needs a schedule that prunes in rounds"),
                       (["--method", "structured", "--scope", "lamp"], "--scope lamp shares out single weights")]:
        assert main(["prune", str(parent), *args]) == 2 and says in capsys.readouterr().err
