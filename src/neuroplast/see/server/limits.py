"""Slow clients: a deadline for reading each request, and the uvicorn settings that bound connections.

uvicorn times out only idle keep-alive connections (after a response); a client that opens a connection
and dribbles its headers or body one byte at a time holds it for ever. :class:`ReadDeadline` gives every
request ``read_timeout`` seconds from its first byte to its last; past that the connection is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

READ_TIMEOUT = 10.0  # seconds from a request's first byte to its last (headers and body, at most 1 MB)
KEEP_ALIVE = 5  # seconds an idle keep-alive connection stays open after a response
MAX_CONNECTIONS = 1024  # open connections or running requests; beyond them a request gets 503


class ReadDeadline(HttpToolsProtocol):
    """uvicorn's HTTP protocol with a deadline on reading each request: the connection is closed when a
    request's headers and body have not all arrived ``read_timeout`` seconds after its first byte (or after
    the connection opened)."""

    read_timeout = READ_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.deadline is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)

    def on_message_complete(self) -> None:
        self._disarm()  # the whole request is in: answering it may take as long as it takes
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self.deadline = self.loop.call_later(self.read_timeout, self._expire)

    def _disarm(self) -> None:
        if getattr(self, "deadline", None) is not None:
            self.deadline.cancel()
            self.deadline = None

    def _expire(self) -> None:
        self.deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def uvicorn_config(app: Any, host: str, port: int, read_timeout: float = READ_TIMEOUT) -> Any:
    """The uvicorn configuration ``serve`` runs: :class:`ReadDeadline` (``read_timeout`` seconds per
    request), idle keep-alive connections closed after :data:`KEEP_ALIVE` seconds, and at most
    :data:`MAX_CONNECTIONS` connections at once."""
    import uvicorn

    protocol = type("ReadDeadline", (ReadDeadline,), {"read_timeout": float(read_timeout)})
    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, http=protocol,
                          timeout_keep_alive=KEEP_ALIVE, limit_concurrency=MAX_CONNECTIONS)
