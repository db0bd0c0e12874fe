"""Issue 20 items 6, 11 and 12 at /connect/token: a stranger's failures do not lock a client out,
private_key_jwt assertions are short-lived and say when they were made, and a revoked client's tokens
are refused from the next request on."""

from __future__ import annotations

import asyncio
import time

import httpx

from store.clients import ClientStore, KeyStore
from tests.api.test_private_key_jwt import BEARER, _assertion, _key, _public_pem
from tests.stack import StackFactory

GRANT = {"grant_type": "client_credentials"}


async def test_a_strangers_failures_do_not_lock_the_client_out(make_stack: StackFactory) -> None:
    async with make_stack(with_worker=False, token_rate_per_client="3/minute") as stack:
        eo = stack.clients["eo"]
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")  # another address
        async with httpx.AsyncClient(base_url=stack.settings.api_url, transport=transport) as stranger:
            statuses = [
                (await stranger.post("/connect/token", data=GRANT, auth=(eo.client_id, "guess"))).status_code
                for _ in range(5)
            ]
        assert statuses == [401, 401, 401, 429, 429]
        r = await stack.http.post("/connect/token", data=GRANT, auth=(eo.client_id, eo.client_secret))
        assert r.status_code == 200, r.text


async def test_assertions_need_iat_and_a_short_lifetime(make_stack: StackFactory) -> None:
    async with make_stack(with_worker=False) as stack:
        key, client_id = _key(), stack.clients["eo"].client_id
        await KeyStore(stack.sessions).add(client_id, _public_pem(key))
        now = int(time.time())

        async def token(assertion: str) -> httpx.Response:
            form = GRANT | {"client_assertion_type": BEARER, "client_assertion": assertion}
            return await stack.http.post("/connect/token", data=form)

        ten_years = _assertion(stack, client_id, key, exp=now + 10 * 365 * 86400)
        without_iat = _assertion(stack, client_id, key, iat=None)
        made_later = _assertion(stack, client_id, key, iat=now + 3600, exp=now + 3700)
        for refused in (ten_years, without_iat, made_later):
            r = await token(refused)
            assert (r.status_code, r.json()["error"]) == (401, "invalid_client"), r.text
        r = await token(_assertion(stack, client_id, key, exp=now + 300))
        assert r.status_code == 200, r.text


async def test_a_revoked_clients_tokens_are_refused(make_stack: StackFactory) -> None:
    async with make_stack(with_worker=False) as stack:
        assert (await stack.get("/v1/payment-intents", as_="reader")).status_code == 200
        assert await ClientStore(stack.sessions).revoke(stack.clients["reader"].client_id)
        statuses: list[int] = []
        async with asyncio.timeout(2.5):  # the revocation list is cached for a second at most
            while 401 not in statuses:
                statuses.append((await stack.get("/v1/payment-intents", as_="reader")).status_code)
                await asyncio.sleep(0.05)
        assert set(statuses) <= {200, 401}, statuses
        assert (await stack.get("/v1/payment-intents", as_="eo")).status_code == 200
