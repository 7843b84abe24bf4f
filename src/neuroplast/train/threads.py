"""How many CPU threads torch trains with: a fixed count, torch's own default, or ``"auto"``, measured.

On a small machine, torch's default (one intra-op thread per core) is not always the fastest: every
parallel region of a small network's step is short, its threads wait for each other, and when another
process holds one of the cores the waiting can make the step many times slower than with one thread.
``"auto"`` times a few training steps of the model at hand, on a copy of it and a real batch, with each
candidate count in turn (interleaved, so that they share the machine's moment), and keeps the fastest; a
count within 5% of the fastest and smaller wins (it leaves a core to the rest of the machine). The choice
is made once, when training starts, and recorded in metrics.json (``train.threads``).
"""

from __future__ import annotations

import copy
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

TOLERANCE = 1.05  # a smaller count within 5% of the fastest is kept: it costs nothing and frees a core
ROUNDS, BUDGET_SECONDS = 5, 1.0  # at most 5 timed steps per count, fewer when they are slow (>= 2 each)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system says; else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def candidates(cores: int | None = None) -> list[int]:
    """The counts ``"auto"`` tries: one thread, half the cores and all of them."""
    cores = cores or usable_cores()
    return sorted({1, max(1, cores // 2), cores})


def fastest(step: Callable[[], Any], counts: Sequence[int], *,
            clock: Callable[[], float] = time.perf_counter) -> tuple[int, dict[int, float]]:
    """The count whose median step time is lowest (ties within :data:`TOLERANCE` go to fewer threads)
    and every count's median seconds per step. torch's thread count is put back afterwards."""
    before = torch.get_num_threads()
    times: dict[int, list[float]] = {n: [] for n in counts}
    try:
        for n in counts:  # a first step each: allocations, kernel selection
            torch.set_num_threads(n)
            step()
        started = clock()
        for done in range(ROUNDS):
            if done >= 2 and clock() - started > BUDGET_SECONDS:
                break
            for n in counts:
                torch.set_num_threads(n)
                t0 = clock()
                step()
                times[n].append(clock() - t0)
    finally:
        torch.set_num_threads(before)
    medians = {n: statistics.median(t) for n, t in times.items()}
    best = min(medians.values())
    return min(n for n in counts if medians[n] <= best * TOLERANCE), medians


def training_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss: Callable[..., torch.Tensor],
                  xb: torch.Tensor, yb: torch.Tensor) -> Callable[[], None]:
    """One training step (forward, loss, backward, optimizer step) on copies of ``model`` and of its
    optimizer, so that timing it changes nothing the run keeps; random draws (dropout) are undone too."""
    twin = copy.deepcopy(model).train()
    try:
        opt: torch.optim.Optimizer | None = type(optimizer)(twin.parameters(), **optimizer.defaults)
    except (TypeError, ValueError, RuntimeError):  # an optimizer that cannot be rebuilt from its defaults
        opt = None

    def step() -> None:
        with torch.random.fork_rng(devices=[]):
            out = twin(xb)
            loss(out, yb).backward()
            if opt is not None:
                opt.step()
            twin.zero_grad(set_to_none=True)

    return step


def choose(threads: int | str | None, step: Callable[[], Any] | None, device: torch.device,
           world_size: int = 1) -> dict[str, Any]:
    """Set torch's thread count as ``train.threads`` says and return what metrics.json records:
    ``{"threads": n, "chosen": "fixed" | "torch default" | "auto", ...}`` (with ``"auto"``, the seconds
    per step each candidate took)."""
    if isinstance(threads, int):
        torch.set_num_threads(threads)
        return {"threads": threads, "chosen": "fixed"}
    cores = usable_cores()
    if threads is None or device.type != "cpu" or step is None or cores == 1 or world_size > 1:
        if threads == "auto" and world_size > 1:  # torchrun: the processes share the cores
            torch.set_num_threads(max(1, cores // world_size))
        reason = "torch default" if threads is None else "auto: not measured (" + (
            f"{device.type} device" if device.type != "cpu" else "one core" if cores == 1
            else f"{world_size} processes share {cores} cores" if world_size > 1 else "no batch") + ")"
        return {"threads": torch.get_num_threads(), "chosen": reason}
    t0 = time.perf_counter()
    best, medians = fastest(step, candidates(cores))
    torch.set_num_threads(best)
    return {"threads": best, "chosen": "auto", "seconds_per_step": {str(n): round(s, 6) for n, s in medians.items()},
            "measured_in_seconds": round(time.perf_counter() - t0, 3)}
