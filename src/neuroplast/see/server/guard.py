"""ASGI guards in front of the app: the Host header (400), the token (401) and body size (413)."""

from __future__ import annotations

import json
import secrets
from typing import Any

from neuroplast.see.server.constants import MAX_BODY, TOKEN_COOKIE

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class Guard:
    """Plain ASGI middleware in front of the app: 400 for a Host header that names none of ``hosts``
    (a page on another site reaching this server by DNS rebinding names its own host), 401 without the
    token when one is set (credentials read as bytes: any byte sequence is a wrong token, never an error),
    413 for bodies over ``max_body`` bytes (by the Content-Length header, and by counting for chunked bodies).

    ``hosts``: the host names accepted in the Host header (any port); None accepts any (a server bound to
    every address, 0.0.0.0 or ::, where the token guards every request)."""

    def __init__(self, app: Any, max_body: int = MAX_BODY, token: str | None = None,
                 hosts: frozenset[str] | None = LOOPBACK_HOSTS) -> None:
        self.app, self.max_body, self.token, self.hosts = app, max_body, token, hosts

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if self.hosts is not None and host_name(headers.get(b"host", b"")) not in self.hosts:
            return await _plain(send, 400, "The Host header names no address this server answers to "
                                f"(it answers to {', '.join(sorted(self.hosts))}, any port; other names are "
                                "refused against DNS rebinding). To reach it by another name, serve on --host 0.0.0.0 "
                                "(every request then needs the printed token).")
        if self.token is not None and not self._authorized(scope, headers):
            return await _plain(send, 401, "Missing or wrong token: open the address with ?token=... "
                                "that `neuroplast serve` printed.")
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return await _plain(send, 413, f"Request body of {int(length):,} bytes is over the "
                                f"{self.max_body:,}-byte limit; send a smaller image.")
        if length is None and scope["method"] in ("POST", "PUT", "PATCH"):  # chunked: count as it comes
            chunks, seen, more = [], 0, True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return
                chunks.append(message.get("body", b""))
                seen += len(chunks[-1])
                more = message.get("more_body", False)
                if seen > self.max_body:
                    return await _plain(send, 413, f"Request body is over the {self.max_body:,}-byte limit.")
            body = b"".join(chunks)
            replayed = False

            async def replay() -> dict:
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            return await self.app(scope, replay, send)
        await self.app(scope, receive, send)

    def _authorized(self, scope: dict, headers: dict) -> bool:
        from urllib.parse import parse_qs

        # every credential stays bytes (latin-1 maps each byte to one character and back): a header of
        # non-UTF-8 bytes is a wrong token (401), not a decoding error (500)
        query = scope.get("query_string", b"").decode("latin-1")
        offered = parse_qs(query).get("token", [""])[0].encode("utf-8", "surrogateescape")
        auth = headers.get(b"authorization", b"")
        if auth[:7].lower() == b"bearer ":
            offered = offered or auth[7:].strip()
        for part in headers.get(b"cookie", b"").split(b";"):
            name, _, value = part.strip().partition(b"=")
            if name == TOKEN_COOKIE.encode():
                offered = offered or value
        return bool(offered) and secrets.compare_digest(offered, self.token.encode())


def host_name(header: bytes) -> str:
    """The host of a Host header without its port, lower case: ``[::1]:8000`` -> ``::1``,
    ``LocalHost:80`` -> ``localhost``; ``""`` for a missing or undecodable one."""
    host = header.decode("latin-1").strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


async def _plain(send: Any, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
