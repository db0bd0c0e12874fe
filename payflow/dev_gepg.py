"""`payflow dev --gateway gepg`: the GePG key material of a development stack, made once under its
data dir, and the GePG simulator that signs with the other half of it.

Two PKCS#12 files as GePG would issue them (payflow's, the simulator's), each with its certificate
beside it, under one generated password: payflow signs with its file and verifies with the simulator's
certificate, the simulator the other way round. Kept across restarts, like the stack's other keys.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from gepg.keygen import write_pkcs12
from gepg.signing import signer_from_pkcs12, verifier_from_certificate
from simulators import gepg

PAYFLOW_P12, SIMULATOR_P12 = "gepg-payflow.p12", "gepg-simulator.p12"


def password(data_dir: Path) -> str:
    path = data_dir / "gepg-password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def settings(data_dir: Path, tenant: str) -> dict[str, Any]:
    """The API's and the worker's GePG settings (passed to the children as PAYFLOW_* variables):
    the simulator's certificate and the default SpCode map to `tenant`."""
    secret = password(data_dir)
    write_pkcs12(data_dir / PAYFLOW_P12, "payflow", secret)
    return {
        "gateway_protocol": "gepg",
        "gepg_key_path": data_dir / PAYFLOW_P12,
        "gepg_key_password": secret,
        "gepg_certificate_path": write_pkcs12(data_dir / SIMULATOR_P12, "gepg-simulator", secret),
        "gepg_tenant": tenant,
    }


def simulator(data_dir: Path, api_url: str) -> FastAPI:
    secret = password(data_dir)
    payflow_certificate = write_pkcs12(data_dir / PAYFLOW_P12, "payflow", secret)
    signer = signer_from_pkcs12(data_dir / SIMULATOR_P12, secret)
    return gepg.create_app(api_url, signer, verifier_from_certificate(payflow_certificate))
