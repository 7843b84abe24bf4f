from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import neuroplast
from neuroplast.spec import series_spec

pytest.importorskip("statsmodels")


def test_the_report_plots_the_test_period_with_every_forecast_and_a_legend(tmp_path: Path, monkeypatch) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(96)
    values = 20 + 0.2 * t + 3 * np.sin(2 * np.pi * t / 12) + 0.3 * rng.standard_normal(96)
    path = tmp_path / "shop.csv"
    path.write_text("\n".join(["month,y", *(f"{2000 + i // 12}-{i % 12 + 1:02d},{float(v)!r}"
                                            for i, v in enumerate(values))]) + "\n")
    spec = series_spec(path, ["data.column=y", "data.season=12", "train.epochs=3",
                              "select.candidates=['nlinear']"])
    drawn = []  # every figure the report draws, to read the forecast plot's lines and legend back
    import neuroplast.plots as plots

    original = plots.figure
    monkeypatch.setattr(plots, "figure", lambda *a, **k: drawn.append(original(*a, **k)) or drawn[-1])
    run = neuroplast.run(spec, out=tmp_path / "run", progress=False)
    page = (run.dir / "report.html").read_text()
    assert 'alt="Forecasts of the test period by this model and the baselines"' in page
    assert "MASE" in page
    forecast = [f for f in drawn if f.axes and f.axes[0].get_legend() is not None
                and "true value" in [t.get_text() for t in f.axes[0].get_legend().get_texts()]]
    assert len(forecast) == 1
    ax = forecast[0].axes[0]
    names = [t.get_text() for t in ax.get_legend().get_texts()]
    assert names == ["true value", "This model", "Naive (the last value)", "Seasonal naive (one season back)",
                     "ARIMA", "ETS (damped Holt-Winters)", "Theta method"]
    origins = np.arange(77, 96)  # the test period: rows 77..95 (20% of 96 values), horizon 1
    truth, naive = ax.get_lines()[0], ax.get_lines()[2]
    np.testing.assert_allclose(truth.get_xdata(), origins)
    np.testing.assert_allclose(truth.get_ydata(), values[origins], rtol=1e-5)
    np.testing.assert_allclose(naive.get_ydata(), values[origins - 1], rtol=1e-6)  # the naive oracle
