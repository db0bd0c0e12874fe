"""/connect/token answers 429 with Retry-After past the rate per client id and per source address."""

from __future__ import annotations

import httpx

from tests.stack import StackFactory

GRANT = {"grant_type": "client_credentials"}


def _retry_after(r: httpx.Response) -> int:
    assert (r.status_code, r.json()["error"]) == (429, "slow_down"), r.text
    seconds = int(r.headers["retry-after"])
    assert 1 <= seconds <= 60, seconds  # within the one-minute window
    return seconds


async def test_token_requests_are_limited_per_client_id_and_per_address(make_stack: StackFactory) -> None:
    async with make_stack(
        with_worker=False, token_rate_per_client="3/minute", token_rate_per_address="8/minute"
    ) as stack:
        eo, reader = stack.clients["eo"], stack.clients["reader"]
        statuses = [
            (await stack.http.post("/connect/token", data=GRANT, auth=(eo.client_id, secret))).status_code
            for secret in ("wrong", "wrong", eo.client_secret)
        ]
        assert statuses == [401, 401, 200]
        # the right secret does not help past the client's rate, and neither does another method
        _retry_after(
            await stack.http.post("/connect/token", data=GRANT, auth=(eo.client_id, eo.client_secret))
        )
        post = GRANT | {"client_id": eo.client_id, "client_secret": eo.client_secret}
        _retry_after(await stack.http.post("/connect/token", data=post))

        # another client from the same address still gets its token, up to the address's rate
        r = await stack.http.post("/connect/token", data=GRANT, auth=(reader.client_id, reader.client_secret))
        assert r.status_code == 200, r.text
        for n in range(2):  # requests 7 and 8 of this address, naming client ids that do not exist
            r = await stack.http.post("/connect/token", data=GRANT, auth=(f"nobody-{n}", "x"))
            assert r.status_code == 401, r.text
        _retry_after(await stack.http.post("/connect/token", data=GRANT, auth=(f"nobody-{n + 1}", "x")))
        r = await stack.http.post("/connect/token", data=GRANT, auth=(reader.client_id, reader.client_secret))
        _retry_after(r)
