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
    for method in ("codebook", "static"):
        _one_line(main(["quantize", str(tmp_path / "lm"), "--method", method]), capsys.readouterr().err,
                  "is a language-model run")


def test_the_quantize_section_runs_on_the_pruned_network_after_training(tmp_path: Path) -> None:
    run = neuroplast.run("digits-mlp", out=tmp_path / "run", progress=False, train={"epochs": 2, "threads": 1},
                         prune={"sparsity": 0.5, "final_epochs": 1}, quantize={"bits": 3, "epochs": 1})
    coded = neuroplast.load(run.dir / "pruned-magnitude" / "quantized-codebook")
    c = coded.metrics["compression"]
    assert c["bits"] == 3 and coded.metrics["parent"] == str((run.dir / "pruned-magnitude").resolve())
    assert c["parent_bytes"] == (run.dir / "pruned-magnitude" / "model.safetensors").stat().st_size
    assert "quantize" not in coded.spec.model_dump(exclude_none=True)  # the folder's spec does not quantize again


def _initializers(path: Path) -> tuple[dict[str, np.ndarray], list[tuple[str, str]]]:
    """The int8 file's initializers, and per Gemm (in graph order) its weight and its input's scale names."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    made_by = {out: node for node in graph.node for out in node.output}
    gemms = []
    for node in graph.node:
        if node.op_type == "Gemm":
            activation = made_by[made_by[node.input[0]].input[0]]  # DequantizeLinear <- QuantizeLinear
            weight = made_by[node.input[1]].input[0].removesuffix("_quantized")
            gemms.append((weight, activation.input[1].removesuffix("_scale")))
    return {i.name: numpy_helper.to_array(i) for i in graph.initializer}, gemms


def _fake_quantized(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray) -> np.ndarray:
    """uint8 quantize-then-dequantize by hand: round to nearest even, clip to 0..255."""
    return (np.clip(np.round(x / scale) + zero_point.astype(np.float32), 0, 255) - zero_point) * scale


@pytest.fixture(scope="module")
def static_run(pruned: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("static") / "int8"
    neuroplast.quantize(pruned, method="static", calibration=256, out=out, progress=False, latency_repeats=3)
    return out


def test_static_int8_weights_are_the_float_weights_rounded_per_channel(static_run: Path) -> None:
    run = neuroplast.load(static_run)  # model.safetensors: the float32 network the int8 file was made from
    c = run.metrics["compression"]
    assert c["method"] == "static" and c["format"] == "QDQ" and c["bytes"] == (static_run / "model.int8.onnx").stat().st_size
    assert c["calibration"] == {"split": "train", "samples": 256, "method": "minmax", "seed": run.spec.seed}
    init, _ = _initializers(static_run / "model.int8.onnx")
    weights = {k: v.detach().numpy() for k, v in run.model.state_dict().items() if k.endswith("weight")}
    assert weights and all(f"{k}_quantized" in init for k in weights)
    for name, w in weights.items():  # symmetric per output channel: scale = max|w_c| / 127, zero point 0
        q, scale = init[f"{name}_quantized"], init[f"{name}_scale"]
        assert q.dtype == np.int8 and not init[f"{name}_zero_point"].any()
        largest = np.abs(w).max(axis=1)
        np.testing.assert_allclose(scale, np.where(largest > 0, largest / 127, 1.0), rtol=1e-5)  # pruned rows: 1
        assert np.all(np.abs(q * scale[:, None] - w) <= scale[:, None] / 2 * (1 + 1e-4))  # round to nearest
        assert not q[w == 0].any()  # the pruned zeros stay zero


def test_static_int8_runs_within_one_step_of_its_dequantized_reference(static_run: Path) -> None:
    import onnxruntime as ort

    run = neuroplast.load(static_run)
    init, gemms = _initializers(static_run / "model.int8.onnx")
    data = load_dataset(run.spec.data, run.spec.seed)
    # the QDQ graph in numpy: fake-quantized activations, dequantized weights, float math, ReLU between layers
    assert len(gemms) == 3
    h = data.x_test.numpy().reshape(len(data.x_test), -1)
    for i, (weight, activation) in enumerate(gemms):
        h = _fake_quantized(h, init[f"{activation}_scale"], init[f"{activation}_zero_point"])
        w = init[f"{weight}_quantized"] * init[f"{weight}_scale"][:, None]
        bias_name = weight.removesuffix("weight") + "bias_quantized"
        h = h @ w.T + init[bias_name] * init[f"{bias_name}_scale"]
        h = np.maximum(h, 0) if i < len(gemms) - 1 else h
    reference = _fake_quantized(h, init["output_scale"], init["output_zero_point"])
    got = ort.InferenceSession(str(static_run / "model.int8.onnx"),
                               providers=["CPUExecutionProvider"]).run(None, {"input": data.x_test.numpy()})[0]
    step = float(init["output_scale"])
    # integer kernels requantize with fixed-point multipliers: a hidden unit may land one step away, so the
    # logits agree to within two output steps, and almost all exactly
    assert np.abs(got - reference).max() <= 2 * step + 1e-6
    assert np.mean(np.abs(got - reference) <= 1e-6 + 0.5 * step) >= 0.95
    float_out = run.outputs(data.x_test).numpy()
    assert np.abs(got - float_out).max() <= 0.05 * (float_out.max() - float_out.min())  # and close to float32
    assert (got.argmax(1) == float_out.argmax(1)).mean() >= 0.97
    accuracy = float((got.argmax(1) == data.y_test.numpy()).mean())
    assert accuracy == pytest.approx(run.metrics["test"]["accuracy"], abs=1e-6)


@pytest.mark.parametrize("argv, says", [
    (["--method", "static", "--bits", "4"], "static quantization is int8"),
    (["--method", "static", "--epochs", "2"], "apply to --method codebook (static quantization does not"),
    (["--method", "dynamic", "--calibration", "64"], "--calibration (quantize.calibration) applies to --method static"),
    (["--method", "static", "--calibration", "0"], "calibration"),
])
def test_static_options_out_of_place_are_one_line(pruned: Path, capsys, argv: list[str], says: str) -> None:
    _one_line(main(["quantize", str(pruned), *argv]), capsys.readouterr().err, says)


def test_a_new_method_into_the_same_folder_leaves_no_stale_weights(pruned: Path, tmp_path: Path) -> None:
    # A 1-bit codebook, then dynamic int8 into the same --out: the folder must load the float network the
    # int8 file was made from, not the old model.compressed (which was left behind and loaded first).
    out = tmp_path / "q"
    neuroplast.quantize(pruned, method="codebook", bits=1, epochs=1, out=out, progress=False, latency_repeats=1)
    coded = neuroplast.load(out).outputs(load_dataset(neuroplast.load(out).spec.data, 0).x_test[:50]).numpy()
    run = neuroplast.quantize(pruned, method="dynamic", out=out, progress=False, latency_repeats=1)
    assert not (out / "model.compressed").exists() and (out / "model.int8.onnx").is_file()
    x = load_dataset(run.spec.data, run.spec.seed).x_test[:50]
    got = neuroplast.load(out).outputs(x).numpy()
    np.testing.assert_allclose(got, neuroplast.load(pruned).outputs(x).numpy(), rtol=1e-5, atol=1e-5)
    assert not np.allclose(got, coded)
    # and back: a codebook into the int8 folder leaves neither the int8 file nor a dense model.safetensors
    neuroplast.quantize(pruned, method="codebook", bits=4, epochs=1, out=out, progress=False, latency_repeats=1)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("model")) == ["model.compressed", "model.json"]


def test_pruning_below_the_parents_sparsity_or_a_quantized_run_is_one_line(pruned: Path, tmp_path: Path,
                                                                            capsys) -> None:
    # the parent is 80% sparse: 0.5 would fine-tune weights back and report it as a saving over dense
    _one_line(main(["prune", str(pruned), "--sparsity", "0.5", "--out", str(tmp_path / "p")]),
              capsys.readouterr().err, "is already 80.0% sparse; pruning it to --sparsity 0.5")
    coded = tmp_path / "coded"
    neuroplast.quantize(pruned, method="codebook", bits=4, epochs=1, out=coded, progress=False, latency_repeats=1)
    _one_line(main(["prune", str(coded), "--sparsity", "0.9", "--out", str(tmp_path / "p2")]),
              capsys.readouterr().err, "is a quantized run; prune the run it was quantized from")


def test_prune_rounds_are_bounded(pruned: Path, tmp_path: Path, capsys) -> None:
    code = main(["prune", str(pruned), "--sparsity", "0.9", "--rounds", "100000", "--out", str(tmp_path / "p")])
    _one_line(code, capsys.readouterr().err, "rounds")
    assert not (tmp_path / "p").exists()
