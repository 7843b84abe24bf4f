"""What the run folder holds, read once for every section of the report: its files, the loaded run
and data, and the predictions on at most :data:`MAX_EXAMPLES` test examples."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from neuroplast import rundir
from neuroplast.data import Dataset
from neuroplast.see.locale import table

MAX_EXAMPLES = 1000  # test examples the report predicts on (confusions, per-class, scatter)
log = logging.getLogger(__name__)


@dataclass
class Context:
    """The run folder read once: files, the loaded run and data, and cached predictions."""

    dir: Path
    lang: str
    metrics: dict[str, Any]
    info: dict[str, Any]
    preprocess: dict[str, Any]
    history: list[dict[str, Any]]
    spec_text: str | None
    run: rundir.Run | None = None
    data: Dataset | None = None
    notes: dict[str, str] = field(default_factory=dict)
    _predictions: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    @classmethod
    def read(cls, run_dir: Path, lang: str, run: rundir.Run | None, data: Dataset | None) -> Context:
        ctx = cls(run_dir, lang, _read(run_dir / rundir.METRICS, lambda p: rundir.read_metrics(p.parent), {}),
                  _read(run_dir / rundir.MODEL_INFO, lambda p: rundir.read_model_info(p.parent), {}),
                  _read(run_dir / rundir.PREPROCESS, lambda p: rundir.read_preprocess(p.parent), {}),
                  _read(run_dir / rundir.HISTORY, rundir.read_history, []),
                  _read(run_dir / rundir.SPEC, lambda p: rundir.read_spec_text(p.parent), None), run, data)
        if ctx.run is None and (run_dir / rundir.WEIGHTS).is_file():
            try:
                ctx.run = rundir.load(run_dir)
            except Exception as e:  # noqa: BLE001  (the page still shows what the files hold)
                ctx.notes["model"] = ctx.t("report.model_unavailable", error=first_line(e))
        if ctx.data is None and ctx.run is not None and ctx.run.spec is not None:
            try:
                from neuroplast.data import load_dataset

                ctx.data = load_dataset(ctx.run.spec.data, ctx.run.spec.seed)
            except Exception as e:  # noqa: BLE001  (e.g. the data folder moved)
                ctx.notes["data"] = ctx.t("report.data_unavailable", error=first_line(e))
        return ctx

    def t(self, key: str, **values: Any) -> str:
        """The string ``key`` in the report's language."""
        s = table(self.lang)[key]
        return s.format(**values) if values else s

    def word(self, group: str, name: str) -> str:
        """A translated metric/task/split name, or ``name`` itself when the table has none."""
        return table(self.lang).get(f"report.{group}.{name}", name)

    @property
    def task(self) -> str:
        return self.info.get("task") or self.metrics.get("task", "")

    @property
    def class_names(self) -> list[str]:
        names = self.info.get("class_names") or (self.metrics.get("data") or {}).get("classes") or []
        return [str(n) for n in names]

    @property
    def is_image(self) -> bool:
        return len(self.info.get("input_shape", [])) == 3 and self.info.get("vocab_size", 0) == 0

    def split(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """At most :data:`MAX_EXAMPLES` test examples (validation for language models)."""
        if self.data is None:
            return None
        x, y = self.data.x_test, self.data.y_test
        if len(x) == 0:
            x, y = self.data.x_val, self.data.y_val
        return (x[:MAX_EXAMPLES].cpu(), y[:MAX_EXAMPLES].cpu()) if len(x) else None

    def examples(self, shown: int) -> str:
        """What ``shown`` examples of :meth:`split` are, said without overstating: all of the test set, or
        the first ``shown`` of it."""
        total = shown if self.data is None else len(self.data.x_test) or len(self.data.x_val)
        if total > shown:
            return self.t("report.examples_first", count=f"{shown:,}", total=f"{total:,}")
        return self.t("report.examples_all", count=f"{shown:,}")

    def predictions(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """``(x, y, outputs)`` on :meth:`split`, computed once."""
        if self._predictions is None and self.run is not None and (xy := self.split()) is not None:
            from neuroplast.train import predict_outputs

            self._predictions = (*xy, predict_outputs(self.run.model, xy[0]).float().cpu())
        return self._predictions


def first_line(e: BaseException) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0]


def _read(path: Path, read: Callable[[Path], Any], default: Any) -> Any:
    """``read(path)``; ``default`` when the file is absent, or damaged (logged): the page still shows
    what the other files hold."""
    if not path.is_file():
        return default
    try:
        return read(path)
    except Exception as e:  # noqa: BLE001  (a damaged file of a by-product must not lose the page)
        log.warning("report: could not read %s: %s", path, first_line(e))
        return default
