"""pruning.png labels each point with its round, so that the pruning section's curve shows rounds."""

from __future__ import annotations

from pathlib import Path

from neuroplast import plots


def test_each_point_of_the_pruning_curve_names_its_round(tmp_path: Path, monkeypatch) -> None:
    made = []
    real = plots.figure

    def record(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(plots, "figure", record)
    curve = [{"round": 0, "sparsity": 0.0, "test_accuracy": 0.98, "val_accuracy": 0.97},
             {"round": 1, "sparsity": 0.3, "test_accuracy": 0.97, "val_accuracy": 0.96},
             {"round": 2, "sparsity": 0.5, "test_accuracy": 0.95, "val_accuracy": 0.95}]
    pruning = {"curve": curve, "method": "magnitude", "schedule": "iterative", "bytes": {"ratio": 2.0},
               "latency_ms": {"batch_1": {"speedup": 1.0}}}
    plots.plot_pruning(pruning, tmp_path / "pruning.png")
    ax = made[0].axes[0]
    assert [t.get_text() for t in ax.texts] == ["r0", "r1", "r2"]
    assert [tuple(t.xy) for t in ax.texts] == [(0.0, 0.98), (30.0, 0.97), (50.0, 0.95)]
    assert ax.get_xlabel() == "weights removed (%)" and (tmp_path / "pruning.png").stat().st_size > 1000
