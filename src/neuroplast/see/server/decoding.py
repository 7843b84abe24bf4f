"""Images decoded off the event loop, each distinct image once while it is fresh: the page sends every
stroke's picture to ``/api/predict`` and ``/api/embed`` at once, and decoding (PNG, MNIST-style centring)
is most of what either costs."""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

RECENT = 32  # decoded images kept (a 28x28 input is 3 kB; a 3x224x224 one 0.6 MB)


class SharedDecode:
    """``await shared(req)``: ``decode(req)`` on a worker thread, shared by every request whose ``image`` is
    the same string while it is among the last :data:`RECENT` decoded (a bad image's error too)."""

    def __init__(self, decode: Any, workers: int = 2, recent: int = RECENT) -> None:
        self.decode, self.recent = decode, recent
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="neuroplast-decode")
        self.found: OrderedDict[bytes, asyncio.Future] = OrderedDict()

    async def __call__(self, req: Any) -> torch.Tensor:
        key = hashlib.blake2b(req.image.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        future = self.found.get(key)
        if future is None:
            future = asyncio.get_running_loop().run_in_executor(self.pool, self.decode, req)
            self.found[key] = future
            while len(self.found) > self.recent:
                self.found.popitem(last=False)
        else:
            self.found.move_to_end(key)
        return await asyncio.shield(future)  # one caller's cancellation (a closed connection) spares the others
