"""The quantize stage: codebook runs that reload exactly from model.compressed, int8 through ONNX Runtime,
and bad input as one line with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import neuroplast
from neuroplast.cli import main
from neuroplast.data import load_dataset
from neuroplast.plasticity.measure import weights_bytes


@pytest.fixture(scope="module")
def pruned(tmp_path_factory) -> Path:
    """A digits MLP, pruned to 80%: the parent of every quantized run here."""
    root = tmp_path_factory.mktemp("quantize")
    neuroplast.run("digits-mlp", out=root / "dense", progress=False, train={"epochs": 4, "threads": 1})
    neuroplast.prune(root / "dense", sparsity=0.8, schedule="iterative", rounds=2, out=root / "pruned",
                     progress=False, latency_repeats=3)
    return root / "pruned"


def _one_line(code: int, err: str, says: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("neuroplast: error: "), err
    assert says in lines[0], lines[0]


def _outputs_in_a_fresh_process(run_dir: Path) -> np.ndarray:
    code = ("import json, sys, neuroplast; r = neuroplast.load(sys.argv[1]); "
            "from neuroplast.data import load_dataset; x = load_dataset(r.spec.data, r.spec.seed).x_test; "
            "print(json.dumps(r.outputs(x).tolist()))")
    out = subprocess.run([sys.executable, "-c", code, str(run_dir)], capture_output=True, text=True, check=True)
    return np.array(json.loads(out.stdout))


def test_a_codebook_run_reloads_from_its_compressed_file_alone(pruned: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "coded"
    code = main(["quantize", str(pruned), "--bits", "4", "--epochs", "1", "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0 and "model.compressed" in printed and "x smaller than dense" in printed
    assert not (out / "model.safetensors").exists() and (out / "model.compressed").is_file()
    run = neuroplast.load(out)
    c = run.metrics["compression"]
    assert c["bytes"] == (out / "model.compressed").stat().st_size
    assert c["dense_bytes"] == weights_bytes(run.model, sparse=False)  # the dense float32 model.safetensors
    assert c["ratio"] == pytest.approx(c["dense_bytes"] / c["bytes"])
    assert c["bytes"] < c["parent_bytes"] < c["dense_bytes"]
    assert run.metrics["test"]["accuracy"] == c["quantized"]["test_accuracy"]
    parent_model = neuroplast.load(pruned).model
    for (name, w), (_, w0) in zip(run.model.named_parameters(), parent_model.named_parameters(), strict=True):
        if name.endswith("weight"):
            assert len(set(w.detach().flatten().tolist()) - {0.0}) <= 16  # 4 bits: at most 16 values
            assert np.array_equal(w.detach().numpy() == 0, w0.detach().numpy() == 0)  # the pruning mask kept
    data = load_dataset(run.spec.data, run.spec.seed)
    expected = run.outputs(data.x_test).numpy()
    accuracy = float((expected.argmax(1) == data.y_test.numpy()).mean())
    assert accuracy == pytest.approx(run.metrics["test"]["accuracy"], abs=1e-6)  # the recorded score is this model's
    np.testing.assert_array_equal(_outputs_in_a_fresh_process(out), expected)
    assert main(["export", str(out), "--out", str(tmp_path / "coded.onnx")]) == 0  # checked in ONNX Runtime
    assert "ONNX Runtime matches PyTorch" in capsys.readouterr().out


def test_dynamic_int8_stays_within_a_stated_tolerance_of_float32(pruned: Path, tmp_path: Path) -> None:
    import onnxruntime as ort

    run = neuroplast.quantize(pruned, method="dynamic", out=tmp_path / "int8", progress=False, latency_repeats=3)
    c = run.metrics["compression"]
    assert c["bytes"] == (tmp_path / "int8" / "model.int8.onnx").stat().st_size and c["bits"] == 8
    assert set(c["latency_ms"]["batch_256"]) == {"fp32", "int8", "speedup"} and c["runtime"] == "onnxruntime"
    data = load_dataset(run.spec.data, run.spec.seed)
    x = data.x_test.numpy()
    session = ort.InferenceSession(str(tmp_path / "int8" / "model.int8.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    want = run.outputs(data.x_test).numpy()  # model.safetensors: the float32 network it was made from
    # int8 weights (per-tensor scale ~ max|w| / 127) and int8 activations: logits within 5% of their range
    assert np.abs(got - want).max() <= 0.05 * (want.max() - want.min())
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.97
    accuracy = float((got.argmax(1) == data.y_test.numpy()).mean())
    assert accuracy == pytest.approx(run.metrics["test"]["accuracy"], abs=1e-6)


@pytest.mark.parametrize("bits", ["0", "9"])
def test_codebook_bits_out_of_range_are_one_line(pruned: Path, capsys, bits: str) -> None:
    code = main(["quantize", str(pruned), "--bits", bits, "--quiet"])
    _one_line(code, capsys.readouterr().err, f"--bits {bits} (quantize.bits): a codebook holds 2^bits values")
    assert not (pruned / "quantized-codebook").exists()


def test_dynamic_is_int8_only(pruned: Path, capsys) -> None:
    _one_line(main(["quantize", str(pruned), "--method", "dynamic", "--bits", "4"]), capsys.readouterr().err,
              "dynamic quantization is int8")


def test_an_already_quantized_run_is_refused_and_the_report_shows_both(pruned: Path, capsys) -> None:
    out = pruned / "quantized-codebook"  # the default folder, inside the pruned run
    assert main(["quantize", str(pruned), "--epochs", "1", "--quiet"]) == 0
    capsys.readouterr()
    report = (pruned / "report.html").read_text()  # rewritten with the new folder
    c = neuroplast.load(out).metrics["compression"]
    assert 'id="compression-table"' in report and f"{c['bytes']:,}" in report and f"{c['dense_bytes']:,}" in report
    _one_line(main(["quantize", str(out), "--quiet"]), capsys.readouterr().err, "is already quantized; quantize")


def test_a_language_model_is_refused(tmp_path: Path, capsys) -> None:
    text = tmp_path / "t.txt"
    text.write_text("abcabcabd " * 200)
    assert main(["run", "shakespeare-lstm", "--out", str(tmp_path / "lm"), "--set", f"data.path={text}",
                 "--set", "data.block_size=8", "--set", "model.hidden_size=8", "--quiet", "--set", "train.epochs=1",
                 "--set", "train.threads=1"]) == 0
    capsys.readouterr()
    _one_line(main(["quantize", str(tmp_path / "lm")]), capsys.readouterr().err,
              "is a language-model run")


def test_the_quantize_section_runs_on_the_pruned_network_after_training(tmp_path: Path) -> None:
    run = neuroplast.run("digits-mlp", out=tmp_path / "run", progress=False, train={"epochs": 2, "threads": 1},
                         prune={"sparsity": 0.5, "final_epochs": 1}, quantize={"bits": 3, "epochs": 1})
    coded = neuroplast.load(run.dir / "pruned-magnitude" / "quantized-codebook")
    c = coded.metrics["compression"]
    assert c["bits"] == 3 and coded.metrics["parent"] == str((run.dir / "pruned-magnitude").resolve())
    assert c["parent_bytes"] == (run.dir / "pruned-magnitude" / "model.safetensors").stat().st_size
    assert "quantize" not in coded.spec.model_dump(exclude_none=True)  # the folder's spec does not quantize again
