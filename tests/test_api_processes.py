"""`payflow api`: N processes on one port accept each other's tokens, a restart keeps every token valid
(one persistent signing key), and without that key the API refuses to start."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import psutil
from temporalio.testing import WorkflowEnvironment

from tests.api_server import PAYFLOW, api_env, client, payflow_api

UNKNOWN_INTENT = "/v1/payment-intents/123456"


def _served_by(r: httpx.Response, candidates: set[int]) -> int:
    """The process that holds the server end of the connection `r` came over (still open)."""
    ours = r.extensions["network_stream"].get_extra_info("client_addr")
    owners = {
        pid
        for pid in candidates
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.raddr and (c.raddr.ip, c.raddr.port) == tuple(ours)
    }
    assert len(owners) == 1, (ours, owners)
    return owners.pop()


async def test_two_api_processes_accept_each_others_tokens_and_a_restart_keeps_them(
    db_url: str, dev_env: WorkflowEnvironment, signing_key: Path
) -> None:
    issued = await client(db_url, ["payments:read"])
    env = api_env(db_url, dev_env, signing_key)
    async with payflow_api(env, "--workers", "2") as api:
        workers = {  # uvicorn's worker processes: the children listening on the port
            child.pid
            for child in psutil.Process(api.process.pid).children()
            for c in child.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == api.port
        }
        assert len(workers) == 2, workers
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
            grant = {"grant_type": "client_credentials"}
            r = await http.post("/connect/token", data=grant, auth=(issued.client_id, issued.client_secret))
            issuer = _served_by(r, workers)
        bearer = {"Authorization": f"Bearer {r.json()['access_token']}"}
        # A new connection per request: the kernel spreads them over both processes, and each accepts
        # the token (an unknown intent is 404, a token the process could not verify would be 401).
        served = []
        while set(served) != workers:
            assert len(served) < 100, f"the kernel sent every connection to {set(served)}"
            async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
                r = await http.get(UNKNOWN_INTENT, headers=bearer)
                assert r.status_code == 404 and r.json()["code"] == "intent_not_found", r.text
                served.append(_served_by(r, workers))
    print(
        f"\ntoken issued by pid {issuer}; accepted by {served.count(issuer)} requests to it and "
        f"{len(served) - served.count(issuer)} to the other process"
    )

    async with payflow_api(env) as restarted, httpx.AsyncClient(base_url=restarted.url) as http:
        r = await http.get(UNKNOWN_INTENT, headers=bearer)
        assert r.status_code == 404 and r.json()["code"] == "intent_not_found", r.text


def test_the_api_refuses_to_start_without_a_signing_key_file(tmp_path: Path) -> None:
    env = os.environ | {"PAYFLOW_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", "COLUMNS": "300"}
    env.pop("PAYFLOW_JWT_PRIVATE_KEY_PATH", None)
    missing = tmp_path / "jwt-signing-key.pem"
    for extra, says in (
        ({}, "PAYFLOW_JWT_PRIVATE_KEY_PATH is not set"),
        (
            {"PAYFLOW_JWT_PRIVATE_KEY_PATH": str(missing)},
            f"PAYFLOW_JWT_PRIVATE_KEY_PATH={missing} does not exist",
        ),
    ):
        done = subprocess.run([PAYFLOW, "api"], env=env | extra, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and says in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr  # one line, not a traceback
    assert not missing.exists()
