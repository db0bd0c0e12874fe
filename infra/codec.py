"""Payload encryption: AES-256-GCM over every Temporal payload, so personal data (phone numbers, names,
CPR and insurance numbers, addresses) never reaches Temporal's history, visibility or backups in clear.

Keys come from settings as a ring of `id:base64key` entries, newest first: the newest encrypts, every
key decrypts, so a key is rotated by putting a new one in front and dropping the old one once no
retained history needs it. An encrypted payload is the whole original payload (metadata and data)
sealed under `encoding: binary/encrypted` with the key id beside it; payloads without that marker
(histories recorded before encryption) decode unchanged.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from infra.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class CodecKeyError(ValueError):
    """The key ring is missing or malformed, or a payload names a key the ring does not hold."""


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[tuple[str, bytes], ...]
    """(id, 32-byte key), newest first."""

    @classmethod
    def parse(cls, entries: Sequence[str]) -> KeyRing:
        """`id:base64key` entries; ids are unique, keys are 32 bytes (AES-256)."""
        keys: list[tuple[str, bytes]] = []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            key_id, sep, material = entry.partition(":")
            try:
                key = base64.b64decode(material, validate=True) if sep else b""
            except binascii.Error:
                key = b""
            if not key_id or len(key) != 32:
                raise CodecKeyError(f"codec key {key_id or entry[:8]!r} is not `id:<base64 of 32 bytes>`")
            if key_id in dict(keys):
                raise CodecKeyError(f"codec key id {key_id!r} appears twice")
            keys.append((key_id, key))
        if not keys:
            raise CodecKeyError(
                "no payload encryption key: set PAYFLOW_CODEC_KEYS (`id:base64key,…`, newest first) or "
                "PAYFLOW_CODEC_KEYS_PATH (a file of such entries); `payflow codec new-key` makes one"
            )
        return cls(tuple(keys))

    @classmethod
    def load(cls, inline: str, path: Path | None) -> KeyRing:
        """The ring from the settings' inline entries followed by the key file's lines."""
        entries = inline.split(",")
        if path is not None:
            try:
                entries += path.read_text().replace(",", "\n").splitlines()
            except OSError as err:
                raise CodecKeyError(f"cannot read the codec key file {path}: {err}") from err
        return cls.parse(entries)


def new_key_entry(key_id: str) -> str:
    """A fresh `id:base64key` entry (32 random bytes)."""
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def ensure_key_file(path: Path) -> Path:
    """The dev stack's key file, created once with one key (mode 0600) and kept across restarts."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(new_key_entry(f"dev-{secrets.token_hex(4)}") + "\n")
        path.chmod(0o600)
    return path


def api_codec(settings: Settings) -> EncryptionCodec:
    """The API's codec (for the codec server); the API also hashes insurance numbers for search, so
    it refuses to start without that secret too: both are checked here, once, at start."""
    if not settings.search_hash_key:
        raise CodecKeyError(
            "no PAYFLOW_SEARCH_HASH_KEY: the API hashes insurance numbers with it for search "
            "(any long random string, kept for good: `payflow dev` makes one)"
        )
    return EncryptionCodec(KeyRing.load(settings.codec_keys, settings.codec_keys_path))


class EncryptionCodec(PayloadCodec):
    def __init__(self, ring: KeyRing) -> None:
        self._current_id, current = ring.keys[0]
        self._current = AESGCM(current)
        self._by_id = {key_id: AESGCM(key) for key_id, key in ring.keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._current.encrypt(nonce, payload.SerializeToString(), self._current_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: self._current_id.encode()}, data=nonce + sealed
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        aead = self._by_id.get(key_id)
        if aead is None:
            raise CodecKeyError(f"payload encrypted with key {key_id!r}, which the key ring does not hold")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = aead.decrypt(nonce, sealed, key_id.encode())
        except InvalidTag as err:
            raise CodecKeyError(f"payload under key {key_id!r} does not authenticate") from err
        return Payload.FromString(plain)
