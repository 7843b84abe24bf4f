"""The report leads with what a person looks at first (headline, learning curves, confusion matrix or
forecast, predictions) and ends with the long tables; a pruned run's curve shows its rounds."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

import neuroplast
from neuroplast.see.report import sections_run, write_report

FIRST_SCREEN = ["overview", "learning-curves"]
LONG_TABLES = ["model", "spec", "environment"]


def _ids(path: Path) -> list[str]:
    return re.findall(r'<section id="([^"]+)"', path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("order") / "cnn"
    neuroplast.run("digits-cnn", out=out, progress=False, train={"epochs": 1, "threads": 1})
    return out


def test_a_classification_report_leads_with_metric_curves_confusion_and_predictions(cnn_run: Path) -> None:
    ids = _ids(cnn_run / "report.html")
    assert ids[:4] == [*FIRST_SCREEN, "confusion-matrix", "predictions"]
    assert ids[-len(LONG_TABLES):] == LONG_TABLES
    assert ids.index("layers") > ids.index("data") > ids.index("space") > ids.index("mistakes")


def test_the_predictions_are_the_first_test_images_with_the_models_answer(cnn_run: Path) -> None:
    run = neuroplast.load(cnn_run)
    data = run.dataset()
    predicted = run.predict_proba(data.x_test[:8]).argmax(axis=1)
    page = (cnn_run / "report.html").read_text(encoding="utf-8")
    gallery = page[page.index('id="predictions-gallery"'):page.index("</section>", page.index('id="predictions-gallery"'))]
    captions = re.findall(r"<figcaption>predicted (\d+) \(\d+%\), true (\d+)</figcaption>", gallery)
    assert [int(p) for p, _ in captions] == predicted.tolist()
    assert [int(t) for _, t in captions] == data.y_test[:8].tolist()


def test_a_series_report_leads_with_the_forecast(tmp_path: Path) -> None:
    pytest.importorskip("statsmodels")
    neuroplast.run("sunspots-lstm", out=tmp_path / "sun", progress=False, overrides=["train.epochs=1", "train.threads=1"])
    ids = _ids(tmp_path / "sun" / "report.html")
    assert ids[:3] == [*FIRST_SCREEN, "regression"]
    assert ids[-len(LONG_TABLES) - 1:] == ["data", *LONG_TABLES]
    page = (tmp_path / "sun" / "report.html").read_text(encoding="utf-8")
    section = page[page.index('<section id="regression">'):]
    assert section.index('id="forecast-img"') < section.index("</section>")


def test_a_pruned_runs_curve_marks_each_round(cnn_run: Path, tmp_path: Path, monkeypatch) -> None:
    drawn: list[tuple[list[int], list[tuple[int, int]]]] = []
    real = sections_run.round_curves

    def record(history, starts, buf, labels):
        fig = real(history, starts, buf, labels)
        drawn.append(([h["epoch"] for h in history], starts))
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert texts[:len(starts)] == [f"round {k}" for _, k in starts]
        assert all(ax.get_xlabel() == "fine-tuning epoch, all rounds in order" for ax in fig.axes)
        return fig

    monkeypatch.setattr(sections_run, "round_curves", record)
    folder = tmp_path / "pruned"
    neuroplast.prune(cnn_run, method="structured", sparsity=0.5, schedule="iterative", rounds=2, epochs=2,
                     final_epochs=1, out=folder, progress=False, latency_repeats=2)
    with open(folder / "history.csv", newline="") as f:  # the oracle: where the round column changes
        rounds = [int(float(r["round"])) for r in csv.DictReader(f)]
    expected = [(i + 1, k) for i, k in enumerate(rounds) if i == 0 or rounds[i - 1] != k]
    assert expected == [(1, 1), (3, 2)]  # 2 fine-tuning epochs after round 1, final_epochs = 1 after round 2
    drawn.clear()
    write_report(folder)
    assert drawn == [(list(range(1, len(rounds) + 1)), expected)]
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "2 pruning rounds" in page and 'id="learning-curves-img"' in page


def test_round_curves_without_accuracy_draw_the_loss_alone() -> None:
    history = [{"epoch": 1, "round": 1, "train_loss": 1.0}, {"epoch": 2, "round": 2, "train_loss": 0.5}]
    fig = sections_run.round_curves(history, [(1, 1), (2, 2)], io.BytesIO(),
                                    {**sections_run.ROUND_WORDS})
    assert len(fig.axes) == 1 and fig.axes[0].get_ylabel() == "loss"
    assert [t.get_text() for t in fig.axes[0].texts] == ["round 1", "round 2"]
