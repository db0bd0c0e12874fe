"""Every protected route × every way a token can be wrong, generated from the app's routes (those
hidden from /openapi.json too), so a new route is covered without editing this file.

Tokens that are absent, malformed, signed by another key, expired, `alg: none`, HS256 with the public
key as secret or for another audience are 401; a token without the route's scope is 403; a token of
another tenant aimed at this tenant's resources is 400-404 on routes that name a resource and never
shows this tenant's ids anywhere. Nothing is ever 5xx. A route that declares no scope must be listed
in PUBLIC with its reason, or the test fails.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from sqlmodel import select

from store.clients import SCOPES
from store.models import Payment
from tests.api.helpers import intent
from tests.api.tokens import issued
from tests.claims.sample import settlement
from tests.stack import Stack, StackFactory

GEPG = "GePG's XML (api/gepg_callbacks.py): no token, its signature against GePG's certificate is the auth"
"""The JSON route of the same path, where there is one, keeps its token and is in the matrix."""
PUBLIC = {
    ("POST", "/connect/token"): "the token endpoint authenticates clients itself",
    ("GET", "/.well-known/jwks.json"): "public keys, published for verifiers",
    ("GET", "/healthz"): "liveness probe, answers no data",
    ("GET", "/metrics"): "Prometheus scrapes without a token; routes, statuses, timings: no tenant data",
    ("GET", "/docs"): "Swagger UI page (api/docs.py): the public OpenAPI document, no data",
    ("GET", "/docs/oauth2-redirect"): "Swagger UI's OAuth redirect page, no data",
    ("GET", "/redoc"): "ReDoc page (api/docs.py): the public OpenAPI document, no data",
    ("POST", "/api/GetReqControlNumber"): GEPG,
    ("POST", "/api/GetPaymentData"): GEPG,
    ("POST", "/api/GetReconciliationData"): GEPG,
}
BODIES = {
    "/v1/cases/{case_id}/settlements": settlement(),
    "/v1/cases/{case_id}/close": {"changed_by": {"full_name": "Eve Other"}},
    "/v1/cases/{case_id}/reopen": {"changed_by": {"full_name": "Eve Other"}},
    "/v1/cases/{case_id}/settlements/{revision_token}/cancel": {"changed_by": {"full_name": "Eve Other"}},
    "/v1/endpoints/{endpoint_id}": {"description": "taken over"},
}
"""Valid bodies for routes that name a resource, so the tenant check is reached, not validation."""
UNAUTHENTICATED = ("none", "malformed", "other key", "expired", "alg none", "HS256 public key", "audience")
CASES = (*UNAUTHENTICATED, "scope", "other tenant")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


async def forged_tokens(stack: Stack) -> dict[str, str | None]:
    """The seven bad tokens, each a valid all-scope token of this tenant but for one flaw."""
    good = issued(stack)
    claims = jwt.decode(good, options={"verify_signature": False})
    kid = jwt.get_unverified_header(good)["kid"]
    jwks = (await stack.http.get("/.well-known/jwks.json")).json()
    public = jwt.PyJWK(jwks["keys"][0]).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs = _unsigned({"alg": "HS256", "typ": "JWT", "kid": kid}, claims)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "none": None,
        "malformed": "not-a.jwt",
        "other key": jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": kid}),
        "expired": issued(stack, token_ttl_s=-120),
        "alg none": _unsigned({"alg": "none", "typ": "JWT", "kid": kid}, claims) + ".",
        "HS256 public key": f"{hs}.{_b64(hmac.new(public, hs.encode(), hashlib.sha256).digest())}",
        "audience": issued(stack, jwt_audience="someone-else"),
    }


def _calls(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _calls(sub)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    dependant: Dependant


def operations(app: FastAPI) -> Iterator[Operation]:
    """Every API operation as served, hidden ones too (FastAPI keeps included routers unflattened)."""
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                yield Operation(method, str(route.path), route.dependant)


def scopes_of(op: Operation) -> set[str] | None:
    """The scopes the operation declares (`Security(..., scopes=...)`); None when it declares none.
    Declaring is not enforcing: the matrix checks that every declared route refuses every bad token."""
    return {s for d in _calls(op.dependant) for s in d.own_oauth_scopes or ()} or None


class TenantA:
    """Resources of tenant `demo`, created through the API, that the other tenant's token aims at."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.markers = [v for v in values.values() if isinstance(v, str) and len(v) >= 8]
        """Ids and numbers unique enough to be found in a response (not the small integer ids)."""

    def path(self, template: str) -> str:
        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            assert name in self.values, f"{template}: no tenant-A value for path parameter {name}"
            return str(self.values[name])

        return re.sub(r"\{(\w+)\}", fill, template)

    def body(self, template: str) -> dict[str, Any]:
        pid, cn = self.values["payment_id"], self.values["control_number"]
        generic = {"internal_identifier": pid, "payment_id": pid, "control_number": cn, "audit_user_id": 1}
        return BODIES.get(template, generic | {"requests": [{"internal_identifier": pid}]})


async def tenant_a(stack: Stack) -> TenantA:
    r = await stack.post("/api/GetControlNumber", json=intent())
    payment_id, cn = int(r.json()["internal_identifier"]), r.json()["control_number"]
    async with stack.sessions() as s:
        intent_id = (await s.exec(select(Payment.intent_id).where(Payment.id == payment_id))).one()
    case = (await stack.post("/v1/cases", as_="claims", json={"number": "A-1"})).json()
    hook = await stack.post("/v1/endpoints", as_="support", json={"url": "http://127.0.0.1:9/a-hook"})
    revision = await stack.post(f"/v1/cases/{case['id']}/settlements", as_="claims", json=settlement())
    deliveries: list[dict[str, Any]] = []
    for _ in range(200):  # the relay starts the events' deliveries right after their commit
        deliveries = (await stack.get("/v1/deliveries", as_="support")).json()
        if deliveries:
            break
        await asyncio.sleep(0.05)
    assert deliveries and cn, "tenant A's resources were not all created"
    return TenantA(
        {
            "tenant": "demo",
            "phone": intent()["phone_number"],
            "country": "dk",
            "payment_id": payment_id,
            "control_number": cn,
            "intent_id": intent_id,
            "case_id": case["id"],
            "revision_token": revision.json()["revision_token"],
            "endpoint_id": hook.json()["id"],
            "delivery_id": deliveries[0]["id"],
            "event_id": case["case_created_event_id"],
        }
    )


async def test_every_route_refuses_every_bad_token(
    make_stack: StackFactory, report_count: Callable[[str], None]
) -> None:
    async with make_stack(cn_mode="internal", webhook_allow_hosts="127.0.0.1", events_hold_s=0.05) as stack:
        a = await tenant_a(stack)
        bad = await forged_tokens(stack)
        other = issued(stack, tenant="other-tenant")
        everything = list(operations(stack.app))
        protected = [op for op in everything if scopes_of(op) is not None]
        public = {(op.method, op.path) for op in everything if scopes_of(op) is None}
        assert public == set(PUBLIC), "a route that declares no scope must be listed in PUBLIC, with why"
        documented = {(m.upper(), p) for p, item in stack.app.openapi()["paths"].items() for m in item}
        assert documented <= {(op.method, op.path) for op in everything}
        paths = {op.path for op in protected}
        assert "/webapp/ScalePoint/{country}/case/{tenant}/revision/{revision_token}" in paths
        assert "/api/events/v1/{country}/external/{tenant}/receive" in paths

        sent = 0
        for op in protected:
            scopes = scopes_of(op) or set()
            url, body = a.path(op.path), a.body(op.path)
            for case in CASES:
                token = {
                    "scope": issued(stack, scopes=frozenset(SCOPES) - scopes),
                    "other tenant": other,
                }.get(case) or bad[case]
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                json_body = None if op.method in ("GET", "DELETE") else body
                r = await stack.http.request(op.method, url, headers=headers, json=json_body)
                sent += 1
                where = f"{op.method} {op.path} with {case}: {r.status_code} {r.text[:300]}"
                assert r.status_code < 500, where
                if case in UNAUTHENTICATED:
                    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer"), where
                elif case == "scope":
                    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope", where
                else:
                    if "{" in op.path:
                        assert 400 <= r.status_code <= 404, where
                    asked = url + json.dumps(json_body)  # an id the caller sent may be echoed
                    leaked = [m for m in a.markers if m in r.text and m not in asked]
                    assert not leaked, f"{where} shows tenant A's {leaked}"
        report_count(
            f"auth matrix: {len(protected)} protected routes × {len(CASES)} cases = {sent} requests, "
            f"{len(PUBLIC)} public routes exempt, 5xx = 0"
        )
