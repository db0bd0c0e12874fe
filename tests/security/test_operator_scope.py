"""Issue 20 item 5: decoding payloads reaches across tenants, so it takes an operator scope that no
tenant client can be given: a tenant's `support` token is 403 on /codec/*, an operator token decodes."""

from __future__ import annotations

import json
from collections.abc import Callable

from click.testing import Result

from store.clients import OPERATOR, OPERATOR_SCOPES, ClientStore
from tests.stack import StackFactory
from tests.test_cli import cli  # noqa: F401 - the fixture

PLAIN = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "IjA2ODEzMzMwNDUi"}]}


async def test_only_an_operator_token_uses_the_codec(make_stack: StackFactory) -> None:
    async with make_stack(with_worker=False) as stack:
        for tenant_client in ("support", "support-other"):
            for op in ("encode", "decode"):
                r = await stack.post(f"/codec/{op}", as_=tenant_client, json=PLAIN)
                assert (r.status_code, r.json()["code"]) == (403, "insufficient_scope"), r.text
        encoded = await stack.post("/codec/encode", as_="operator", json=PLAIN)
        assert encoded.status_code == 200 and encoded.json() != PLAIN, encoded.text
        decoded = await stack.post("/codec/decode", as_="operator", json=encoded.json())
        assert decoded.json() == PLAIN
        # an operator client holds no tenant's data either
        r = await stack.get("/v1/payment-intents", as_="operator")
        assert r.status_code == 403, r.text

        store = ClientStore(stack.sessions)
        for tenant, scopes in (("demo", [*OPERATOR_SCOPES]), ("demo", ["support", *OPERATOR_SCOPES])):
            try:
                await store.create(tenant, scopes)
            except ValueError as err:
                assert "operator" in str(err)
            else:
                raise AssertionError(f"a client of tenant {tenant} was given {scopes}")
        try:
            await store.create(OPERATOR, ["support"])
        except ValueError as err:
            assert "tenant scope" in str(err)
        else:
            raise AssertionError("an operator client was given a tenant scope")


def test_the_cli_creates_operator_clients_apart(cli: Callable[..., Result]) -> None:  # noqa: F811
    cli("migrate")
    refused = cli("clients", "create", "--tenant", "b", "--scope", OPERATOR_SCOPES[0], ok=False)
    assert "operator scope" in refused.stderr
    made = cli("clients", "create", "--operator", "--scope", OPERATOR_SCOPES[0], "--json")
    assert json.loads(made.stdout)["tenant"] == OPERATOR
    cli("clients", "create", "--operator", "--tenant", "b", "--scope", OPERATOR_SCOPES[0], ok=False)
