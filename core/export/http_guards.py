"""ASGI guard in front of the prediction server: local Host headers only, bounded bodies.

The Host check stops DNS rebinding: a web page on evil.example whose name resolves to
127.0.0.1 could otherwise call a server on the user's machine from their browser. The
body is buffered up to a limit before any parsing, so a huge or endless upload costs at
most that much memory (Content-Length is checked first, chunked bodies while reading).
"""
from __future__ import annotations

import ipaddress
import json
from typing import Any, Awaitable, Callable, Iterable

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_BODY_BYTES = 1_000_000


def host_name(header: str) -> str:
    """'127.0.0.1:8000' -> '127.0.0.1', '[::1]:8000' -> '::1', 'LocalHost' -> 'localhost'."""
    text = header.strip().lower()
    if text.startswith("["):
        return text[1:text.find("]")] if "]" in text else text
    if text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text.rstrip(".")


def allowed_hosts(extra: Iterable[str] = ()) -> frozenset[str]:
    """The loopback names, plus names the user chose to serve under (not wildcards: no one sends those)."""
    names = set(LOCAL_HOSTS)
    for name in extra:
        host = host_name(name) if not _is_ip(name) else str(ipaddress.ip_address(name))
        if host and host not in ("0.0.0.0", "::"):
            names.add(host)
    return frozenset(names)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class RequestGuard:
    def __init__(self, app: ASGIApp, hosts: Iterable[str] = LOCAL_HOSTS, max_body_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.hosts = frozenset(hosts)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = host_name(headers.get("host", ""))
        if host not in self.hosts:
            await _reply(send, 400, f"Host '{host or '(none)'}' is not served here: this server answers requests "
                                    f"for {', '.join(sorted(self.hosts))} only (see `workbench serve --help`)")
            return
        limit = self.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _reply(send, 413, f"the request body is {int(declared):,} bytes; the limit is {limit:,}")
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _reply(send, 413, f"the request body is over the {limit:,}-byte limit")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect as usual

        await self.app(scope, replay, send)


async def _reply(send: Send, status: int, message: str) -> None:
    payload = json.dumps({"detail": message}).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
