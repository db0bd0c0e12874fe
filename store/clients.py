"""OAuth clients: configuration records written by the CLI and the dev stack, read by /connect/token."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlmodel import col, select

from domain.credentials import hash_secret, new_secret
from store.db import SessionFactory, transaction
from store.models import OAuthClient

SCOPES = (
    "events",
    "platform-case:read",
    "platform-case:write",
    "payments:write",
    "payments:read",
    "gateway",
    "support",
)


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
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown:
            raise ValueError(f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(SCOPES)}")
        if not tenant:
            raise ValueError("a client needs a tenant")
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

    async def revoke(self, client_id: str) -> bool:
        async with transaction(self._sessions) as s:
            client = (await s.exec(select(OAuthClient).where(OAuthClient.client_id == client_id))).first()
            if client is None:
                return False
            client.revoked = True
            s.add(client)
            return True
