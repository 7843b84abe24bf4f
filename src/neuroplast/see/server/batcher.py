"""Concurrent ``/api/predict`` requests answered together: one forward and one backward pass."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from neuroplast.see.server.constants import MAX_BATCH


class Batcher:
    """Collects concurrent requests and answers them with one call of ``fn`` on a worker thread."""

    def __init__(self, fn: Any, max_batch: int = MAX_BATCH) -> None:
        self.fn, self.max_batch = fn, max_batch
        self.queue: asyncio.Queue | None = None
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="neuroplast-model")
        self.task: asyncio.Task | None = None

    async def __call__(self, x: torch.Tensor) -> dict[str, Any]:
        if self.queue is None:
            self.queue = asyncio.Queue()
            self.task = asyncio.get_running_loop().create_task(self._work())
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((x, future))
        return await future

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [await self.queue.get()]
            while len(items) < self.max_batch and not self.queue.empty():
                items.append(self.queue.get_nowait())
            try:
                answers = await loop.run_in_executor(self.pool, self.fn, [x for x, _ in items])
                for (_, f), a in zip(items, answers, strict=True):
                    if not f.done():
                        f.set_result(a)
            except Exception as e:  # the server keeps serving; each waiting request gets the error
                for _, f in items:
                    if not f.done():
                        f.set_exception(e)
