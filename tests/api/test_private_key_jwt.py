"""private_key_jwt: either of two registered keys works; replayed, expired and foreign assertions fail."""

from __future__ import annotations

import base64
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from store.clients import KeyStore, KeyTaken
from tests.stack import Stack, StackFactory

BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _base64_der_certificate(key: rsa.RSAPrivateKey) -> bytes:
    """A self-signed certificate, base64 DER: what Scalepoint's customers send for their key."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "payflow-client")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER))


def _assertion(stack: Stack, client_id: str, key: rsa.RSAPrivateKey, **changes: object) -> str:
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{stack.settings.api_url}/connect/token",
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
        "jti": uuid.uuid4().hex,
    } | changes
    return jwt.encode(claims, key, algorithm="RS256")


async def _token(stack: Stack, assertion: str, **extra: str) -> tuple[int, dict[str, str]]:
    r = await stack.http.post(
        "/connect/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": BEARER,
            "client_assertion": assertion,
        }
        | extra,
    )
    return r.status_code, r.json()


async def test_private_key_jwt(make_stack: StackFactory) -> None:
    async with make_stack() as stack:
        client_id = stack.clients["claims"].client_id
        keys = KeyStore(stack.sessions)
        old, new, stranger = _key(), _key(), _key()
        await keys.add(client_id, _public_pem(old))
        await keys.add(client_id, _base64_der_certificate(new))  # rotation: both keys valid at once
        assert await keys.add(client_id, _public_pem(old)) == await keys.add(client_id, _public_pem(old))
        with pytest.raises(KeyTaken, match="already registered for another client"):
            await keys.add(stack.clients["claims-other"].client_id, _public_pem(old))

        for key in (old, new):
            status, body = await _token(stack, _assertion(stack, client_id, key), scope="events")
            assert status == 200 and body["scope"] == "events"
            claims = jwt.decode(body["access_token"], options={"verify_signature": False})
            assert (claims["client_id"], claims["tenant"]) == (client_id, "demo")

        once = _assertion(stack, client_id, old)
        assert (await _token(stack, once))[0] == 200
        refused = {
            "replayed": once,
            "expired": _assertion(stack, client_id, old, exp=int(time.time()) - 120),
            "unknown key": _assertion(stack, client_id, stranger),
            "other audience": _assertion(stack, client_id, new, aud="https://elsewhere.example/token"),
            "iss is not sub": _assertion(stack, client_id, new, sub="someone-else"),
            "no jti": jwt.encode(
                {
                    "iss": client_id,
                    "sub": client_id,
                    "aud": f"{stack.settings.api_url}/connect/token",
                    "exp": int(time.time()) + 60,
                },
                new,
                algorithm="RS256",
            ),
            "garbage": "not.a.jwt",
        }
        reasons = {}
        for case, assertion in refused.items():
            status, body = await _token(stack, assertion)
            assert (status, body["error"]) == (401, "invalid_client"), case
            reasons[case] = body["error_description"]
        assert "replay" in reasons["replayed"] and "expired" in reasons["expired"]
        assert "not registered" in reasons["unknown key"]

        # RFC 7523 §3: `aud` names this server as configured, never as the request's Host header says.
        spoofed_host = "payflow.attacker.example"
        r = await stack.http.post(
            "/connect/token",
            headers={"Host": spoofed_host},
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": BEARER,
                "client_assertion": _assertion(
                    stack, client_id, new, aud=f"http://{spoofed_host}/connect/token"
                ),
            },
        )
        assert (r.status_code, r.json()["error"]) == (401, "invalid_client"), r.text
        issuer_as_audience = _assertion(stack, client_id, new, aud=stack.settings.jwt_issuer)
        assert (await _token(stack, issuer_as_audience))[0] == 200

        status, body = await _token(stack, _assertion(stack, client_id, new), client_secret="x")
        assert (status, body["error"]) == (400, "invalid_request")
        status, body = await _token(stack, _assertion(stack, client_id, new), client_assertion_type="jwt")
        assert (status, body["error"]) == (400, "invalid_request")
