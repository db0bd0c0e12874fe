"""Issue 20 item 2: request bodies are bounded before they are parsed and before authentication, and
deeply nested JSON is a 4xx. The requests go over a raw socket: a client that sends 100 MB must be
able to read the early 413 while it is still sending (httpx would send everything first)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil

from tests.api.helpers import intent
from tests.api.test_auth_matrix import operations
from tests.stack import Stack, StackFactory

HUNDRED_MB = 100 * 1024 * 1024
CHUNK = b"[" + b"1," * 32767 + b"1"  # 64 KiB of a JSON array that never ends


async def _response(reader: asyncio.StreamReader, head: bytes = b"") -> tuple[int, dict[str, str], Any]:
    """The final answer, past a `100 Continue` (`head`: the answer's head if read already)."""
    head = head or await reader.readuntil(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 100"):
        head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
    body = await reader.readexactly(int(headers["content-length"]))
    return int(status_line.split()[1]), headers, json.loads(body)


async def send_100_mb(
    base_url: str, path: str, *, declared: bool, method: str = "POST"
) -> tuple[int, dict[str, str], Any, int]:
    """POST 100 MB of JSON to `path` (Content-Length declared, or chunked), reading the answer while
    sending; (status, headers, body, bytes sent before the answer came). With a declared length the
    client first waits for `100 Continue`, as HTTP lets it: a server that refuses the length answers
    at once and the client never writes into a connection closed on it."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = f"{method} {path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {HUNDRED_MB}\r\nExpect: 100-continue\r\n" if declared else ""
    head += "" if declared else "Transfer-Encoding: chunked\r\n"
    writer.write((head + "\r\n").encode())
    sent = 0
    try:
        async with asyncio.timeout(30):
            if declared:
                first = await reader.readuntil(b"\r\n\r\n")
                if not first.startswith(b"HTTP/1.1 100"):
                    return (*await _response(reader, first), 0)
            answer = asyncio.create_task(_response(reader))
            with contextlib.suppress(ConnectionError):
                while sent < HUNDRED_MB and not answer.done():
                    writer.write(CHUNK if declared else b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
                    await writer.drain()
                    sent += len(CHUNK)
                    await asyncio.sleep(0)
            return (*await answer, sent)
    finally:
        writer.close()


async def test_a_100_mb_body_is_refused_before_authentication(make_stack: StackFactory) -> None:
    async with make_stack(with_worker=False) as stack:
        url = stack.settings.api_url
        process = psutil.Process(os.getpid())  # the API is served in this process
        for declared in (True, False):  # Content-Length, then chunked
            before = process.memory_info().rss
            status, _, body, sent = await send_100_mb(url, "/codec/decode", declared=declared)
            assert status == 413, body
            assert body["code"] == "body_too_large" and body["status"] == 413
            assert sent < 8 * 1024 * 1024, sent  # refused at once, not after reading the body
            assert process.memory_info().rss - before < 20 * 1024 * 1024
            # the answer in each route family's shape
            status, _, body, _ = await send_100_mb(url, "/api/GetControlNumber", declared=declared)
            assert (status, body["error_occured"]) == (413, True), body
            status, _, body, _ = await send_100_mb(url, "/connect/token", declared=declared)
            assert (status, body["error"]) == (413, "invalid_request"), body

        routes = {(op.method, re.sub(r"\{\w+\}", "1", op.path)) for op in operations(stack.app)}
        assert len(routes) > 40
        for method, path in sorted(routes):  # every route, before routing and authentication
            status, _, body, sent = await send_100_mb(url, path, declared=True, method=method)
            assert (status, sent) == (413, 0), (method, path, body)
        assert (await stack.http.get("/healthz")).status_code == 200  # and the API still serves


async def test_json_depth_and_list_lengths_are_bounded(make_stack: StackFactory) -> None:
    async with make_stack(with_worker=False) as stack:
        await _deep_json_is_a_4xx(stack)
        await _lists_are_bounded_and_documented(stack)
        await _bodies_within_the_limits_pass(stack)


async def _deep_json_is_a_4xx(stack: Stack) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    json_type = {"content-type": "application/json"}
    r = await stack.http.post("/connect/token", content=deep, headers=json_type)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    for path in ("/api/GetControlNumber", "/api/GetAssignedControlNumbers"):
        r = await stack.post(path, content=deep, headers=json_type)
        assert r.status_code == 400 and r.json()["error_occured"] is True, r.text
    r = await stack.post("/v1/payment-intents", content=deep, headers=json_type)
    assert r.status_code == 400 and r.json()["code"] == "json_too_deep", r.text
    nested: Any = 1
    for _ in range(40):  # not deep enough to overflow the parser, deeper than any request of ours
        nested = {"x": nested}
    r = await stack.post("/v1/payment-intents", json={"phone_number": nested})
    assert r.status_code == 400 and r.json()["code"] == "json_too_deep", r.text


async def _lists_are_bounded_and_documented(stack: Stack) -> None:
    schema = (await stack.http.get("/openapi.json")).json()

    def body_of(path: str) -> dict[str, Any]:
        content = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        found: dict[str, Any] = content["schema"]
        if "$ref" in found:
            return dict(schema["components"]["schemas"][found["$ref"].rsplit("/", 1)[1]])
        return found

    assert body_of("/api/GetControlNumber")["properties"]["policies"]["maxItems"] == 50
    assert body_of("/api/GetAssignedControlNumbers")["properties"]["requests"]["maxItems"] == 100
    assert schema["components"]["schemas"]["WirePayload"]["properties"]["metadata"]["maxProperties"] == 50
    policy = {"insurance_number": "070707070", "insurance_product_code": "FCUL0001", "renewal": 1}
    r = await stack.post("/api/GetControlNumber", json=intent(policies=[policy] * 51))
    assert r.status_code == 400 and r.json()["error_occured"] is True, r.text
    wire = {"metadata": {f"k{i}": "eA==" for i in range(51)}, "data": "eA=="}
    r = await stack.post("/codec/decode", as_="operator", json={"payloads": [wire]})
    assert r.status_code == 422, r.text


async def _bodies_within_the_limits_pass(stack: Stack) -> None:
    payloads = {"payloads": [{"metadata": {"encoding": "YmluYXJ5L3BsYWlu"}, "data": "eA=="}] * 10}
    r = await stack.post("/codec/decode", as_="operator", json=payloads)
    assert r.status_code == 200, r.text
    chunked = stack.http.stream(
        "POST",
        "/connect/token",
        content=_chunks(b"grant_type=client_credentials"),
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=httpx.BasicAuth(stack.clients["eo"].client_id, stack.clients["eo"].client_secret),
    )
    async with chunked as r:
        assert r.status_code == 200, await r.aread()


async def _chunks(data: bytes) -> Any:
    for i in range(0, len(data), 5):
        yield data[i : i + 5]
