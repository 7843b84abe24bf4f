"""ASGI guards in front of the app: body size (413) and the token (401)."""

from __future__ import annotations

import json
import secrets
from typing import Any

from neuroplast.see.server.constants import MAX_BODY, TOKEN_COOKIE


class Guard:
    """Plain ASGI middleware in front of the app: 413 for bodies over ``max_body`` bytes (by the
    Content-Length header, and by counting for chunked bodies), 401 without the token when one is set."""

    def __init__(self, app: Any, max_body: int = MAX_BODY, token: str | None = None) -> None:
        self.app, self.max_body, self.token = app, max_body, token

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
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

        offered = parse_qs(scope.get("query_string", b"").decode()).get("token", [""])[0]
        auth = headers.get(b"authorization", b"").decode()
        if auth.lower().startswith("bearer "):
            offered = offered or auth[7:].strip()
        for part in headers.get(b"cookie", b"").decode().split(";"):
            name, _, value = part.strip().partition("=")
            if name == TOKEN_COOKIE:
                offered = offered or value
        return bool(offered) and secrets.compare_digest(offered.encode(), self.token.encode())


async def _plain(send: Any, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
