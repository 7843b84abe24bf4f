"""The shared decode: the page's two requests for one stroke (predict, embed) decode its picture once;
other pictures, and old ones pushed out, are decoded again; a bad picture's error reaches every caller."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest
import torch

from neuroplast.see.server.decoding import SharedDecode


def run(coroutine_function) -> None:
    """``asyncio.run`` on a thread of its own (the browser tests' Playwright may hold this thread's loop)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine_function()).result()


def test_one_picture_is_decoded_once_for_concurrent_callers_and_again_when_pushed_out() -> None:
    calls: list[str] = []
    lock = threading.Lock()

    def decode(req):
        with lock:
            calls.append(req.image)
        time.sleep(0.05)  # a slow decode: the second caller arrives while the first is still decoding
        if req.image == "bad":
            raise ValueError("cannot decode")
        return torch.full((1, 1), float(len(req.image)))

    shared = SharedDecode(decode, recent=2)

    async def main():
        a, b = await asyncio.gather(shared(SimpleNamespace(image="aaa")), shared(SimpleNamespace(image="aaa")))
        assert a is b and calls == ["aaa"]
        await shared(SimpleNamespace(image="bb"))
        await shared(SimpleNamespace(image="aaa"))  # still among the last two
        assert calls == ["aaa", "bb"]
        await shared(SimpleNamespace(image="c"))  # pushes out "bb" (the least recently asked)
        await shared(SimpleNamespace(image="bb"))
        assert calls == ["aaa", "bb", "c", "bb"]
        results = await asyncio.gather(shared(SimpleNamespace(image="bad")), shared(SimpleNamespace(image="bad")),
                                       return_exceptions=True)
        assert all(isinstance(r, ValueError) for r in results) and calls.count("bad") == 1

    run(main)
    shared.pool.shutdown()


@pytest.mark.parametrize("recent", [1, 3])
def test_the_kept_pictures_never_exceed_the_bound(recent: int) -> None:
    shared = SharedDecode(lambda req: torch.zeros(1), recent=recent)

    async def main():
        for i in range(10):
            await shared(SimpleNamespace(image=str(i)))
            assert len(shared.found) <= recent

    run(main)
    shared.pool.shutdown()
