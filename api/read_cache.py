"""Settlement and Events API answers kept per API process while the store is unchanged (issue 21, P5).

An answer is kept with the store's version read *before* the query that made it, and served again
only while that version is still current: a commit by any connection of any process (a worker, another
API process) changes it, so the next read queries again. The version must be exact and cost no round
trip, so the cache works where the store has one: SQLite's `PRAGMA data_version` on a dedicated
read-only connection (it reads the WAL index, a few microseconds). On PostgreSQL there is no exact
cheap version (a cancel of a revision that is not the standing one writes no event, so the event
NOTIFY does not cover it), and every read queries. Keys hold the reader's tenant, so one tenant's
answer is never served to another. An answer that changes with time alone (an Events page, when its
oldest event passes the retention period) is kept until then. Every answer carries an ETag of its
bytes, and `If-None-Match` with the current one answers 304.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request, Response
from sqlalchemy.engine import URL

ENTRIES = 4096


@dataclass(frozen=True)
class Answer:
    body: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> Answer:
        return cls(body, f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"')

    def response(self, request: Request, media_type: str) -> Response:
        """200 with the body, or 304 when the client's `If-None-Match` names this answer."""
        headers = {"ETag": self.etag}
        matches = request.headers.get("if-none-match")
        if matches and (matches.strip() == "*" or self.etag in (m.strip() for m in matches.split(","))):
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type=media_type, headers=headers)


class ReadCache:
    def __init__(self, url: URL, entries: int = ENTRIES) -> None:
        self._entries = entries
        self._kept: OrderedDict[Hashable, tuple[int, float, Answer]] = OrderedDict()
        self._sqlite: sqlite3.Connection | None = None
        path = url.database if url.get_backend_name() == "sqlite" else None
        if path and path != ":memory:" and not path.startswith("file:"):
            uri = f"{Path(path).resolve().as_uri()}?mode=ro"
            try:
                self._sqlite = sqlite3.connect(
                    uri, uri=True, isolation_level=None, timeout=0, check_same_thread=False
                )
            except sqlite3.Error:  # not there (yet): nothing is kept
                self._sqlite = None

    def version(self) -> int | None:
        """The store's version now; None when there is no exact cheap one (nothing is cached then)."""
        if self._sqlite is None:
            return None
        try:
            return int(self._sqlite.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:  # busy or gone: read from the store this time
            return None

    def get(self, key: Hashable) -> tuple[int | None, Answer | None]:
        """The version now, and the answer kept for `key` if it is still current."""
        version = self.version()
        kept = self._kept.get(key)
        if version is None or kept is None or kept[0] != version or kept[1] < time.monotonic():
            return version, None
        self._kept.move_to_end(key)
        return version, kept[2]

    def put(self, key: Hashable, version: int | None, body: bytes, for_s: float = math.inf) -> Answer:
        """Keep `body`, read after `version` was current, for at most `for_s` seconds; the answer."""
        answer = Answer.of(body)
        if version is not None:
            self._kept[key] = (version, time.monotonic() + for_s, answer)
            self._kept.move_to_end(key)
            if len(self._kept) > self._entries:
                self._kept.popitem(last=False)
        return answer


def read_cache(request: Request) -> ReadCache:
    """The API process's cache, made on first use from the engine the app's sessions use."""
    state = request.app.state
    cache: ReadCache | None = getattr(state, "read_cache", None)
    if cache is None:
        cache = state.read_cache = ReadCache(state.sessions.kw["bind"].url)
    return cache
