"""The codec server (api/routers/codec.py) and the key ring (infra/codec.py): rotation, auth, CORS."""

from __future__ import annotations

import base64

import pytest
from temporalio.api.common.v1 import Payload

from infra.codec import CodecKeyError, EncryptionCodec, KeyRing, new_key_entry
from tests.stack import StackFactory


def _wire(payload: Payload) -> dict[str, object]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


async def test_rotation_old_keys_decrypt_the_newest_encrypts() -> None:
    old, new = new_key_entry("2025"), new_key_entry("2026")
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"0681333045"')
    [sealed_old] = await EncryptionCodec(KeyRing.parse([old])).encode([plain])
    rotated = EncryptionCodec(KeyRing.parse([new, old]))
    [sealed_new] = await rotated.encode([plain])
    assert sealed_new.metadata["encryption-key-id"] == b"2026" and b"0681333045" not in sealed_new.data
    assert await rotated.decode([sealed_old, sealed_new, plain]) == [plain, plain, plain]
    with pytest.raises(CodecKeyError, match="'2026'"):
        await EncryptionCodec(KeyRing.parse([old])).decode([sealed_new])
    with pytest.raises(CodecKeyError, match="no payload encryption key"):
        KeyRing.load("", None)


async def test_codec_endpoints_need_support_and_answer_the_ui_origin(make_stack: StackFactory) -> None:
    async with make_stack(with_worker=False) as stack:
        plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"Mette Jensen"')
        body = {"payloads": [_wire(plain)]}
        assert (await stack.http.post("/codec/encode", json=body)).status_code == 401
        assert (await stack.post("/codec/encode", "eo", json=body)).status_code == 403
        encoded = await stack.post("/codec/encode", "operator", json=body)
        [sealed] = encoded.json()["payloads"]
        assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
        decoded = await stack.post("/codec/decode", "operator", json=encoded.json())
        assert decoded.json() == body
        bad = await stack.post("/codec/decode", "operator", json={"payloads": [{"data": "%%"}]})
        assert bad.status_code == 400 and bad.json()["code"] == "invalid_payload"
        preflight = await stack.http.options(
            "/codec/decode",
            headers={
                "Origin": "http://localhost:8233",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://localhost:8233"
        elsewhere = await stack.http.get("/healthz", headers={"Origin": "http://localhost:8233"})
        assert "access-control-allow-origin" not in elsewhere.headers
