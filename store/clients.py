"""OAuth clients: configuration records written by the CLI and the dev stack, read by /connect/token."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from domain.credentials import hash_secret, new_secret
from store.db import SessionFactory, transaction
from store.models import ClientKey, OAuthClient, UsedAssertion, utcnow

SCOPES = (
    "events",
    "platform-case:read",
    "platform-case:write",
    "payments:write",
    "payments:read",
    "gateway",
    "support",
)
"""Tenant scopes: what a tenant's client may do with its own tenant's data."""
OPERATOR_SCOPES = ("operator:codec",)
"""Operator scopes: what reaches across tenants (`operator:codec` decodes and encodes any tenant's
workflow payloads). Only operator clients hold them, and they hold nothing else."""
OPERATOR = "*"
"""The tenant of operator clients (and of their tokens): every tenant, and so no tenant's data."""


@dataclass(frozen=True)
class IssuedClient:
    client_id: str
    client_secret: str
    tenant: str
    scopes: list[str]
    name: str


class ClientStore:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def create(
        self, tenant: str, scopes: list[str], *, name: str = "", client_id: str | None = None
    ) -> IssuedClient:
        unknown = sorted(set(scopes) - set(SCOPES) - set(OPERATOR_SCOPES))
        if unknown:
            known = ", ".join((*SCOPES, *OPERATOR_SCOPES))
            raise ValueError(f"unknown scope(s): {', '.join(unknown)}; known: {known}")
        if not tenant:
            raise ValueError("a client needs a tenant")
        if tenant == OPERATOR and set(scopes) - set(OPERATOR_SCOPES):
            raise ValueError("an operator client holds operator scopes only, no tenant scope")
        if tenant != OPERATOR and set(scopes) & set(OPERATOR_SCOPES):
            raise ValueError(
                f"{', '.join(sorted(set(scopes) & set(OPERATOR_SCOPES)))}: an operator scope, which no "
                "tenant client holds; create an operator client for it (`payflow clients create --operator`)"
            )
        client_id = client_id or f"cli_{secrets.token_hex(8)}"
        secret = new_secret()
        async with transaction(self._sessions) as s:
            if (await s.exec(select(OAuthClient).where(OAuthClient.client_id == client_id))).first():
                raise ValueError(f"client {client_id!r} already exists")
            s.add(
                OAuthClient(
                    client_id=client_id,
                    name=name,
                    secret_hash=hash_secret(secret),
                    tenant=tenant,
                    scopes=" ".join(scopes),
                )
            )
        return IssuedClient(client_id, secret, tenant, scopes, name)

    async def get(self, client_id: str) -> OAuthClient | None:
        async with self._sessions() as s:
            return (await s.exec(select(OAuthClient).where(OAuthClient.client_id == client_id))).first()

    async def list(self) -> list[OAuthClient]:
        async with self._sessions() as s:
            return list((await s.exec(select(OAuthClient).order_by(col(OAuthClient.id)))).all())

    async def revoked_ids(self) -> list[str]:
        """The revocation list: ids of every revoked client (api/revocations.py caches it)."""
        async with self._sessions() as s:
            return list((await s.exec(select(OAuthClient.client_id).where(col(OAuthClient.revoked)))).all())

    async def revoke(self, client_id: str) -> bool:
        async with transaction(self._sessions) as s:
            client = (await s.exec(select(OAuthClient).where(OAuthClient.client_id == client_id))).first()
            if client is None:
                return False
            client.revoked = True
            s.add(client)
            return True


def public_key_pem(material: bytes) -> tuple[str, str]:
    """A registered key as (kid, PEM): a PEM public key or certificate, or a base64 DER certificate
    (how Scalepoint's customers send theirs). The kid is the SHA-256 thumbprint of the key."""
    text = material.strip()
    try:
        if text.startswith(b"-----BEGIN CERTIFICATE"):
            key = x509.load_pem_x509_certificate(text).public_key()
        elif text.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(text)
        else:
            key = x509.load_der_x509_certificate(base64.b64decode(text, validate=True)).public_key()
    except (ValueError, TypeError) as err:
        raise ValueError("not a PEM public key, PEM certificate or base64 DER certificate") from err
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return kid, pem.decode()


class KeyTaken(ValueError):
    """The key is registered for another client: one key authenticates one client only (a conflict)."""


class KeyStore:
    """Public keys for private_key_jwt, and the assertion ids already used."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def add(self, client_id: str, material: bytes) -> str:
        """Register the key for the client (again: no change); `KeyTaken` when another client has it."""
        kid, pem = public_key_pem(material)
        async with transaction(self._sessions) as s:
            if (await s.exec(select(OAuthClient).where(OAuthClient.client_id == client_id))).first() is None:
                raise ValueError(f"no client {client_id!r}")
            known = (await s.exec(select(ClientKey).where(ClientKey.kid == kid))).first()
            if known is None:
                s.add(ClientKey(client_id=client_id, kid=kid, public_pem=pem))
            elif known.client_id != client_id:
                raise KeyTaken(f"key {kid} is already registered for another client")
        return kid

    async def keys(self, client_id: str) -> list[ClientKey]:
        async with self._sessions() as s:
            q = select(ClientKey).where(ClientKey.client_id == client_id, col(ClientKey.revoked).is_(False))
            return list((await s.exec(q)).all())

    async def use_assertion(self, jti: str, client_id: str, expires_at: datetime) -> bool:
        """Remember the assertion id; False when it was used before (a replay)."""
        try:
            async with transaction(self._sessions) as s:
                await s.exec(delete(UsedAssertion).where(col(UsedAssertion.expires_at) < utcnow()))
                s.add(UsedAssertion(jti=jti, client_id=client_id, expires_at=expires_at))
        except IntegrityError:
            return False
        return True
