"""Text from a character language model: learning, reproducible sampling and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import neuroplast
from neuroplast.errors import UserError
from neuroplast.generate import generate
from neuroplast.spec import ExperimentSpec


def _tiny_lm(tmp_path: Path, family: str) -> neuroplast.Run:
    (tmp_path / "abc.txt").write_text("abcd" * 400)
    model = {"family": family, "hidden_size": 32} if family == "lstm" else \
        {"family": family, "d_model": 32, "num_heads": 2, "num_layers": 1, "dropout": 0.0}
    spec = ExperimentSpec.model_validate({
        "name": "tiny-lm", "data": {"source": "text", "path": str(tmp_path / "abc.txt"), "block_size": 16},
        "model": model, "train": {"epochs": 15, "batch_size": 16, "lr": 1e-2, "threads": 1}})
    return neuroplast.run(spec, out=tmp_path / family, progress=False)



@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_language_model_learns_and_generates_reproducibly(tmp_path, family: str) -> None:
    run = _tiny_lm(tmp_path, family)
    assert run.metrics["task"] == "language-model" and run.metrics["val"]["loss"] < 0.1
    assert run.metrics["val"]["bits_per_char"] == pytest.approx(run.metrics["val"]["loss"] / 0.6931471805599453)
    loaded = neuroplast.load(tmp_path / family)
    a = generate(loaded, "ab", tokens=20, temperature=0.5, seed=1)
    assert a == generate(loaded, "ab", tokens=20, temperature=0.5, seed=1)
    assert a == neuroplast.generate(tmp_path / family, "ab", tokens=20, temperature=0.5, seed=1)  # a folder
    assert a.startswith("abcdabcdabcd")  # it learned the cycle
    with pytest.raises(UserError, match=r"characters outside the model's vocabulary: 'XZ'"):
        generate(loaded, "abXZ", tokens=5)
    from neuroplast import prune as prune_run

    with pytest.raises(UserError, match=r"is a language-model run"):  # was a ZeroDivisionError after pruning
        prune_run(tmp_path / family)
    for bad in (float("nan"), float("inf"), 0.0):  # NaN reached the sampler, inf sampled uniformly
        with pytest.raises(UserError, match=r"--temperature must be a finite number > 0"):
            generate(loaded, "ab", tokens=5, temperature=bad)



def test_generate_cli_errors_are_one_line(tmp_path, capsys) -> None:
    from neuroplast.cli import main

    _tiny_lm(tmp_path, "lstm")
    assert main(["generate", str(tmp_path / "lstm"), "--prompt", "abc", "--tokens", "8"]) == 0
    assert capsys.readouterr().out.startswith("abc")
    assert main(["generate", str(tmp_path / "lstm"), "--prompt", "ab?"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "outside the model's vocabulary: '?'" in err[0]
    assert main(["generate", str(tmp_path / "lstm"), "--tokens", "-3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["neuroplast: error: --tokens must be 0 or more (characters to generate); received -3."]
    assert main(["generate", str(tmp_path / "lstm"), "--prompt", "ab", "--tokens", "0"]) == 0
    assert capsys.readouterr().out == "ab\n"
    assert main(["predict", str(tmp_path / "lstm"), "abc"]) == 2  # a language model: generate, not predict
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"neuroplast: error: {tmp_path / 'lstm'} is a character language model; predict is for "
                   "classifiers and regressors. Continue a text with: neuroplast generate "
                   f"{tmp_path / 'lstm'} --prompt abc"]
