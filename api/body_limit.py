"""Request bodies bounded before anything parses them or checks a token (issue 20, item 2).

A pure ASGI middleware, outside routing and authentication: a declared `Content-Length` above the
limit is refused before one byte is read; a chunked body is counted as it streams and refused when it
passes the limit. A body within it is read here (the app would buffer it anyway) and handed on as it
came, after one check of JSON nesting: Python's parser recurses per level, so `[[[[…` a few thousand
deep would otherwise end as a 500 wherever JSON is read. Refusals answer in the route family's shape:
openIMIS' on /api/*, OAuth's on /connect/token, problem+json elsewhere. deploy/haproxy.cfg refuses
declared lengths above the largest limit at the edge already.
"""

from __future__ import annotations

import re
from itertools import accumulate

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem

MAX_BODY_BYTES = 1024 * 1024
"""Every route but the codec's: openIMIS and /v1 requests are a few KB (their lists are bounded)."""
MAX_CODEC_BODY_BYTES = 4 * 1024 * 1024
"""/codec/*: payloads of a workflow history (Temporal itself refuses a payload above 2 MB)."""
MAX_JSON_DEPTH = 32
"""Nesting levels of a JSON body; payflow's deepest request has 4."""

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_STEP = [1 if c in b"[{" else -1 if c in b"]}" else 0 for c in range(256)]
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


def too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests deeper than `limit` (brackets inside strings do not count). Linear
    and in C but for one pass over the brackets, and only for a body with more brackets than `limit`."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


def refusal(path: str, status: int, code: str, detail: str) -> JSONResponse:
    """An error in the shape of the family `path` belongs to, answered before any route ran."""
    close = {"Connection": "close"} if status == 413 else {}  # the rest of the body is never read
    if path.startswith("/api/"):
        body = {"error_occured": True, "error_message": detail}
        return JSONResponse(body, status_code=status, headers=close)
    if path == "/connect/token":
        body = {"error": "invalid_request", "error_description": detail}
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store", **close})
    return problem(status, code, detail, close)


class BodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope) if scope["type"] == "http" else Headers()
        if "content-length" not in headers and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body, or not HTTP
            return
        path: str = scope["path"]
        limit = MAX_CODEC_BODY_BYTES if path.startswith("/codec/") else MAX_BODY_BYTES
        too_large = refusal(path, 413, "body_too_large", f"The request body is larger than {limit} bytes.")
        declared = headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > limit:
            await too_large(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > limit:
                await too_large(scope, receive, send)
                return
        body = b"".join(chunks)
        if body.lstrip()[:1] in (b"[", b"{") and too_deep(body):
            detail = f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels."
            await refusal(path, 400, "json_too_deep", detail)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` that gives the body read already, then what the connection says next (a disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
