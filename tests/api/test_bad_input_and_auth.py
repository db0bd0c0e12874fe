"""Bad input and bad credentials get a clear 4xx with a machine-readable body, never a 500."""

from __future__ import annotations

import jwt
import pytest

from store.models import Payment
from tests.api.helpers import count, intent
from tests.stack import StackFactory

LEGACY = [
    "/api/GetControlNumber",
    "/api/GetAssignedControlNumbers",
    "/api/PostReqControlNumberAck",
    "/api/GetReqControlNumber",
]


async def test_malformed_json_and_wrong_types(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="internal") as stack:
        for path, who in zip(LEGACY, ["eo", "eo", "gateway", "gateway"], strict=True):
            r = await stack.post(
                path, as_=who, content=b"{not json", headers={"Content-Type": "application/json"}
            )
            assert r.status_code == 400, (path, r.text)
            assert r.json()["error_message"] == "2-Wrong format of input data"
            r = await stack.post(path, as_=who, json=["a", "list"])
            assert r.status_code == 400 and "error_message" in r.json(), (path, r.text)
        r = await stack.post("/api/GetControlNumber", json=intent(policies="FCUL0001"))
        assert r.status_code == 400 and r.json()["error_occured"] is True
        r = await stack.post("/api/GetControlNumber", json=intent(smsRequired="perhaps"))
        assert r.status_code == 400 and r.json()["error_message"] == "2-Wrong format of input data"
        r = await stack.post(
            "/api/GetAssignedControlNumbers", json={"requests": [{"internal_identifier": "x1"}]}
        )
        assert r.json() == {"error_occured": True, "error_message": "1-  Wrong format of internal identifier"}

        r = await stack.post(
            "/v1/payment-intents", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "malformed_json"
        r = await stack.post(
            "/v1/payment-intents", json={"phone_number": 5, "request_date": "yesterday", "policies": []}
        )
        assert r.status_code == 422 and r.json()["code"] == "validation_failed"
        assert {tuple(e["loc"])[-1] for e in r.json()["errors"]} >= {
            "phone_number",
            "request_date",
            "policies",
        }
        assert await count(stack, Payment) == 0


@pytest.mark.parametrize("path", [*LEGACY, "/v1/payment-intents"])
async def test_missing_and_bad_tokens_are_401(make_stack: StackFactory, path: str) -> None:
    async with make_stack(cn_mode="internal") as stack:
        r = await stack.http.post(path, json=intent())
        assert r.status_code == 401 and r.json()["code"] == "unauthorized"
        assert r.headers["www-authenticate"].startswith("Bearer")
        forged = jwt.encode({"client_id": "x", "tenant": "demo", "scope": "payments:write gateway"}, "k" * 32)
        r = await stack.http.post(path, json=intent(), headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401 and r.json()["code"] == "invalid_token"


async def test_wrong_scope_is_403(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="internal") as stack:
        r = await stack.post("/api/GetControlNumber", as_="reader", json=intent())
        assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"
        r = await stack.post("/api/GetReqControlNumber", as_="eo", json={"internal_identifier": 1})
        assert r.status_code == 403
        r = await stack.post("/v1/payment-intents", as_="gateway", json={})
        assert r.status_code == 403
        assert await count(stack, Payment) == 0


async def test_token_endpoint(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="internal") as stack:
        eo = stack.clients["eo"]
        grant = {"grant_type": "client_credentials"}
        r = await stack.http.post("/connect/token", data=grant, auth=(eo.client_id, eo.client_secret))
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        token = r.json()
        assert token["token_type"] == "Bearer" and token["scope"] == "payments:write payments:read"
        jwks = (await stack.http.get("/.well-known/jwks.json")).json()
        key = jwt.PyJWK(jwks["keys"][0])
        claims = jwt.decode(token["access_token"], key.key, algorithms=["RS256"], audience="payflow-api")
        assert claims["tenant"] == "demo" and claims["client_id"] == eo.client_id
        assert jwt.get_unverified_header(token["access_token"])["kid"] == jwks["keys"][0]["kid"]

        post = {
            **grant,
            "client_id": eo.client_id,
            "client_secret": eo.client_secret,
            "scope": "payments:read",
        }
        r = await stack.http.post("/connect/token", data=post)
        assert r.status_code == 200 and r.json()["scope"] == "payments:read"

        cases = [
            ({**grant}, (eo.client_id, "wrong"), 401, "invalid_client"),
            ({**grant}, None, 401, "invalid_client"),
            ({"grant_type": "password"}, (eo.client_id, eo.client_secret), 400, "unsupported_grant_type"),
            ({**grant, "scope": "support"}, (eo.client_id, eo.client_secret), 400, "invalid_scope"),
            ({**grant, "client_secret": "x"}, (eo.client_id, eo.client_secret), 400, "invalid_request"),
        ]
        for data, auth, status, error in cases:
            r = await stack.http.post("/connect/token", data=data, auth=auth)
            assert (r.status_code, r.json()["error"]) == (status, error), (data, r.text)
