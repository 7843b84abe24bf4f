"""Watch it learn: one live training run at a time from a shipped spec, streamed as events."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from neuroplast.see.server.constants import PLAYGROUND
from neuroplast.see.server.predictor import BadInput

log = logging.getLogger(__name__)


def _whole(value: Any) -> Any:
    """6.0 is the integer 6 (as JSON Schema says); 6.5, "6" and true stay what they are (refused)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class TrainRequest(BaseModel):
    """A live run: which shipped spec, how many epochs."""

    model_config = ConfigDict(extra="forbid", strict=True)  # as the OpenAPI schema says: no other keys

    spec: str = Field(description=f"One of the shipped playground specs: {', '.join(PLAYGROUND)}.")
    epochs: Annotated[int, BeforeValidator(_whole)] = Field(10, ge=1, description="Epochs to train (bounded per spec).")


# --------------------------------------------------------------------------- watch it learn
class Playground:
    """One live training run at a time, from a shipped spec, streaming events to any listener."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.lock = threading.Lock()
        self.running = False
        self.events: list[dict[str, Any]] = []
        self.run_id = 0

    def start(self, name: str, epochs: int) -> int:
        from neuroplast.spec import load_spec

        if name not in PLAYGROUND:
            raise BadInput(f"spec must be one of {', '.join(PLAYGROUND)}; received {name!r}.")
        bound = PLAYGROUND[name]["max_epochs"]
        if not 1 <= epochs <= bound:
            raise BadInput(f"epochs for {name} must be between 1 and {bound}; received {epochs}.")
        with self.lock:
            if self.running:
                raise RuntimeError("busy")
            self.running = True
            self.run_id += 1
            self.events = [{"type": "start", "run": self.run_id, "spec": name, "epochs": epochs}]
        spec = load_spec(name).updated(train={"epochs": epochs, "threads": 1})
        threading.Thread(target=self._train, args=(spec, self.run_id), daemon=True,
                         name="neuroplast-playground").start()
        return self.run_id

    def _train(self, spec: Any, run_id: int) -> None:
        from neuroplast.pipeline import run

        listener = _Listener(self.events)
        try:
            result = run(spec, out=self.workdir / f"{spec.name}-{run_id}", callbacks=[listener], progress=False)
            test = result.metrics.get("test", {})
            self.events.append({"type": "done", "test_accuracy": test.get("accuracy"),
                                "test_loss": test.get("loss"), "seconds": result.metrics["train"]["seconds"]})
        except Exception as e:  # reported to the page; the server keeps serving
            log.exception("playground training failed")
            self.events.append({"type": "error", "message": f"{type(e).__name__}: {e}"})
        finally:
            with self.lock:
                self.running = False


class _Listener:
    """A training callback that appends one event per epoch: losses, accuracy, first-layer weights."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events, self.model, self.start = events, None, time.perf_counter()

    def set_model(self, model: torch.nn.Module) -> None:
        self.model = model

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        event = {"type": "epoch", "epoch": epoch, "seconds": round(time.perf_counter() - self.start, 2)}
        event.update({k: round(float(v), 5) for k, v in logs.items()
                      if isinstance(v, (int, float)) and k != "epoch"})
        if self.model is not None:
            event["filters"] = first_layer_images(self.model)
        self.events.append(event)


def first_layer_images(model: torch.nn.Module, limit: int = 16) -> list[list[list[float]]]:
    """The first layer's weights as small grayscale images in [0, 1]: a CNN's first filters (channel
    mean), or an MLP's first-layer rows shaped like a square input."""
    from neuroplast.trust import first_layer_filters, receptive_fields

    with torch.no_grad():
        if any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
            w = first_layer_filters(model).mean(dim=1)
        else:
            w = receptive_fields(model)
            if w.ndim != 4:
                return []
            w = w[:, 0]
            low = w.amin(dim=(1, 2), keepdim=True)
            w = (w - low) / (w.amax(dim=(1, 2), keepdim=True) - low).clamp_min(1e-12)
    return np.round(w[:limit].cpu().numpy(), 3).tolist()
