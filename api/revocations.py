"""A revoked client's access tokens refused from (about) the next request on, without a query per
request (issue 20, item 12).

`payflow clients revoke` marks the client in the database (`OAuthClient.revoked`): that column is the
revocation list every API process shares. Each process keeps the set of revoked client ids and reads
it again once it is older than REFRESH_S, one query for all the requests waiting meanwhile; otherwise
a request costs a set lookup. A revoked client's tokens are thus refused within REFRESH_S in every
process (and its token requests at once: /connect/token reads the client). While the database is
down the last list read stays in force, so routes that need no database keep answering.
"""

from __future__ import annotations

import asyncio
import logging
import time

from api.outages import database_outage
from store.clients import ClientStore

REFRESH_S = 1.0
log = logging.getLogger(__name__)


class Revocations:
    def __init__(self, clients: ClientStore, refresh_s: float = REFRESH_S) -> None:
        self._clients = clients
        self._refresh_s = refresh_s
        self._revoked: frozenset[str] = frozenset()
        self._read_at = -refresh_s
        self._reading = asyncio.Lock()

    async def revoked(self, client_id: str) -> bool:
        if time.monotonic() - self._read_at > self._refresh_s:
            async with self._reading:
                if time.monotonic() - self._read_at > self._refresh_s:  # not read while we waited
                    await self._read()
        return client_id in self._revoked

    async def _read(self) -> None:
        try:
            self._revoked = frozenset(await self._clients.revoked_ids())
        except Exception as err:
            if not database_outage(err):
                raise
            log.warning("revocation list not refreshed (database unreachable); the last one stays")
        self._read_at = time.monotonic()
