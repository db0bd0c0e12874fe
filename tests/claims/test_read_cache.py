"""Settlement and Events reads without a database round trip when nothing changed (issue 21, deliver 5).

A repeated read is answered from the API process's cache while the store is unchanged; a change
committed by another process (here: another engine, as a worker writes) is seen by the next read;
another tenant never gets a cached answer; `If-None-Match` with the current ETag answers 304.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.engine import make_url

from api.read_cache import ReadCache
from store.claims import cancel_revision
from store.db import transaction
from store.events import append
from tests.claims.test_settlements import V3, new_case, settlement
from tests.stack import Stack, StackFactory

READ_TABLES = ("settlementrevision", "event")


@contextmanager
def reads_of_the_store(stack: Stack) -> Iterator[list[str]]:
    """The API process's queries of the tables these reads come from, while the block runs."""
    engine = stack.app.state.sessions.kw["bind"].sync_engine
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if any(f"from {t}" in statement.lower() for t in READ_TABLES):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def read_from_cache(stack: Stack, path: str, **kwargs: Any) -> httpx.Response:
    """The first of repeated reads answered without a query. The workflow may still be writing after
    it answered (each commit rightly empties the cache), so this polls, bounded."""
    for _ in range(100):
        with reads_of_the_store(stack) as seen:
            r = await stack.get(path, **kwargs)
        if not seen:
            return r
        await asyncio.sleep(0.05)
    raise AssertionError(f"every read of {path} queried the store")


async def _settled(stack: Stack) -> tuple[dict[str, Any], str]:
    case = await new_case(stack)
    r = await stack.post(f"/v1/cases/{case['id']}/settlements", as_="claims", json=settlement())
    assert r.status_code == 201, r.text
    return case, r.json()["revision_token"]


def _url(token: str, tenant: str = "demo") -> str:
    return f"/webapp/ScalePoint/dk/case/{tenant}/revision/{token}"


async def test_a_repeated_settlement_read_skips_the_store_and_sees_a_cancel_made_elsewhere(
    make_stack: StackFactory,
) -> None:
    async with make_stack() as stack:
        case, token = await _settled(stack)
        first = await stack.get(_url(token), as_="claims", headers=V3)
        assert first.status_code == 200 and first.json()["settlementDetails"]["status"] == "SETTLED"
        again = await read_from_cache(stack, _url(token), as_="claims", headers=V3)
        assert again.status_code == 200 and again.content == first.content
        etag = again.headers["etag"]

        # a worker (another process, another connection) cancels the revision: no event is written
        assert await cancel_revision(stack.sessions, case["id"], token)
        after = await stack.get(_url(token), as_="claims", headers=V3 | {"If-None-Match": etag})
        assert after.status_code == 200, after.text  # the next read, not a later one
        assert after.json()["settlementDetails"]["status"] == "CANCELLED"
        assert after.headers["etag"] != etag

        v1 = await stack.get(f"/v1/settlements/{token}", as_="claims")
        assert v1.status_code == 200 and v1.headers["content-type"] == "application/json"
        assert v1.content == after.content


async def test_if_none_match_answers_304_without_the_store(make_stack: StackFactory) -> None:
    async with make_stack() as stack:
        _, token = await _settled(stack)
        first = await stack.get(_url(token), as_="claims", headers=V3)
        etag = first.headers["etag"]
        r = await read_from_cache(stack, _url(token), as_="claims", headers=V3 | {"If-None-Match": etag})
        assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
        r = await stack.get(_url(token), as_="claims", headers=V3 | {"If-None-Match": '"other"'})
        assert r.status_code == 200 and r.content == first.content


async def test_another_tenant_never_gets_a_cached_answer(make_stack: StackFactory) -> None:
    async with make_stack(events_hold_s=0.2) as stack:
        _, token = await _settled(stack)
        mine = await stack.get(_url(token), as_="claims", headers=V3)
        etag = mine.headers["etag"]
        for path in (_url(token, "other-tenant"), f"/v1/settlements/{token}"):
            for headers in ({}, {"If-None-Match": etag}):
                r = await stack.get(path, as_="claims-other", headers=V3 | headers)
                assert r.status_code == 400 and r.json()["code"] == "unknown_revision", r.text
        page = await stack.get("/api/events/v1/dk/external/demo/receive?lastEventId=_0", as_="claims")
        assert page.status_code == 200 and page.json()["data"]
        r = await stack.get(
            "/api/events/v1/dk/external/demo/receive?lastEventId=_0",
            as_="claims-other",
            headers={"If-None-Match": page.headers["etag"]},
        )
        assert r.status_code == 403
        r = await stack.get(
            "/api/events/v1/dk/external/other-tenant/receive?lastEventId=_0", as_="claims-other"
        )
        assert r.status_code == 200 and r.json()["data"] == []


async def test_a_repeated_events_page_skips_the_store_and_sees_an_event_appended_elsewhere(
    make_stack: StackFactory,
) -> None:
    async with make_stack(events_hold_s=5) as stack:
        await new_case(stack)
        url = "/api/events/v1/dk/external/demo/receive?lastEventId=_0"
        first = await stack.get(url, as_="claims")
        assert first.status_code == 200 and len(first.json()["data"]) == 1
        again = await read_from_cache(stack, url, as_="claims")
        assert again.content == first.content

        async with transaction(stack.sessions) as s:  # as a worker appends, in another process
            await append(s, "demo", "read-cache-test", {"eventType": "case_created"})
        after = await stack.get(url, as_="claims", headers={"If-None-Match": first.headers["etag"]})
        assert after.status_code == 200
        assert [i["type"] for i in after.json()["data"]] == ["case_created", "case_created"]


def test_an_answer_is_kept_while_the_version_holds_for_as_long_as_asked(tmp_path: Path) -> None:
    db = tmp_path / "a store #1 %.db"  # characters a file: URI must escape
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (x)")
    cache = ReadCache(make_url(f"sqlite+aiosqlite:///{db}"))
    version, kept = cache.get("k")
    assert version is not None and kept is None
    cache.put("k", version, b"brief", for_s=0)
    assert cache.get("k")[1] is None  # past its time
    answer = cache.put("k", version, b"kept")
    assert cache.get("k") == (version, answer)
    writer.execute("INSERT INTO t VALUES (1)")  # another connection commits
    assert cache.get("k")[1] is None
    missing = f"sqlite+aiosqlite:///{tmp_path / 'no such dir' / 'x.db'}"
    for url in ("postgresql+asyncpg://postgres@127.0.0.1/x", "sqlite+aiosqlite://", missing):
        elsewhere = ReadCache(make_url(url))  # no exact cheap version: nothing is kept
        elsewhere.put("k", elsewhere.version(), b"x")
        assert elsewhere.get("k") == (None, None)
