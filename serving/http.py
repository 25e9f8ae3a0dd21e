"""An ASGI guard in front of the API routes: oversized bodies get 413, bodies that are not
JSON get 400, and a validation error's message names the fields (BentoML's own 400 says only
"1 validation error for Input"; the rewritten one reads "invalid request: k: Input should be
less than or equal to 100"). Plain ASGI, no framework import."""

from __future__ import annotations

import json
import os

MAX_BODY_BYTES = int(os.environ.get("POMONA_MAX_BODY_BYTES", 1 << 20))  # 1 MiB


class RequestGuard:
    def __init__(self, app, routes: tuple[str, ...] = (), max_body: int = MAX_BODY_BYTES):
        self.app, self.routes, self.max_body = app, set(routes), max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") not in self.routes:
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return await _reply(send, 413, {"error": f"body: request body of {int(declared)} bytes exceeds the "
                                                     f"limit of {self.max_body} bytes"})
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                return await _reply(send, 413, {"error": f"body: request body exceeds the limit of "
                                                         f"{self.max_body} bytes"})
        try:
            parsed = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            return await _reply(send, 400, {"error": f"body: not valid JSON ({exc})"})
        if not isinstance(parsed, dict):
            return await _reply(send, 400, {"error": "body: expected a JSON object"})

        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, _NameFields(send))


class _NameFields:
    """Rewrites a 400 JSON validation response so that its ``error`` names each field."""

    def __init__(self, send):
        self.send, self.start, self.chunks = send, None, []

    async def __call__(self, message):
        if message["type"] == "http.response.start" and message["status"] == 400:
            self.start = message
            return
        if self.start is None:
            return await self.send(message)
        self.chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = b"".join(self.chunks)
        try:
            data = json.loads(body)
            detail = data.get("detail") if isinstance(data, dict) else None
            if isinstance(detail, list) and detail:
                data["error"] = "invalid request: " + "; ".join(
                    f"{'.'.join(str(p) for p in d.get('loc', [])) or 'body'}: {d.get('msg', '')}" for d in detail)
                body = json.dumps(data).encode()
        except ValueError:
            pass
        headers = [(k, v) for k, v in self.start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.send({**self.start, "headers": headers})
        await self.send({"type": "http.response.body", "body": body, "more_body": False})


async def _reply(send, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})
