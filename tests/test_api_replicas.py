"""Two `payflow api` replicas and two `payflow worker`s on PostgreSQL behind haproxy, run with the
repository's own deploy/haproxy.cfg (the layout README "Several API replicas" documents): a token of
one replica is good on the other, one Idempotency-Key makes one intent whichever replicas it reaches,
a long poll on one replica is woken by a write through the other, and a rolling restart of both
replicas under a steady 4 req/s fails no request."""

from __future__ import annotations

import asyncio
import csv
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlmodel import func, select
from temporalio.testing import WorkflowEnvironment

from bench.load import ControlNumbers, open_loop, summary
from payflow.demo import INTENT
from payflow.servers import free_port, serve
from simulators import sms
from store.db import make_engine, session_factory
from store.models import Payment
from tests.api.test_event_feed import _listeners
from tests.api_server import ROOT, ApiProcess, api_env, client, payflow_api, spawn_worker
from tests.claims.sample import settlement, validate
from tests.conftest import _pg_database

HAPROXY = shutil.which("haproxy")
pytestmark = pytest.mark.skipif(HAPROXY is None, reason="no haproxy (tests/setup-system.sh installs it)")
CONFIG = ROOT / "deploy" / "haproxy.cfg"
SCOPES = ["payments:write", "payments:read", "platform-case:write", "platform-case:read", "events"]
RATE, LOAD_S = 4, 15
UNKNOWN_INTENT = "/v1/payment-intents/123456"


class Replica:
    """One `payflow api` on a fixed port, so that the proxy finds it again after a restart."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env, self.port = env, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._running = AsyncExitStack()

    async def start(self) -> ApiProcess:
        return await self._running.enter_async_context(payflow_api(self.env, port=self.port))

    async def stop(self) -> None:
        """SIGTERM; payflow_api asserts a clean exit within 30 s (in-flight requests finished)."""
        await self._running.aclose()


class Proxy:
    def __init__(self, url: str, socket: Path) -> None:
        self.url, self.socket = url, socket

    async def stats(self) -> dict[str, dict[str, str]]:
        """haproxy's `show stat` for the replicas (`a`, `b`), by server name."""
        reader, writer = await asyncio.open_unix_connection(self.socket)
        writer.write(b"show stat\n")
        text = (await reader.read()).decode().removeprefix("# ")
        writer.close()
        rows = csv.DictReader(text.splitlines())
        return {r["svname"]: r for r in rows if r["pxname"] == "api" and r["svname"] in ("a", "b")}

    async def wait_until(self, server: str, status: str, within: float = 20) -> None:
        async with asyncio.timeout(within):
            while (await self.stats())[server]["status"] != status:  # noqa: ASYNC110 - haproxy's state
                await asyncio.sleep(0.05)


@asynccontextmanager
async def haproxy(port: int, a: Replica, b: Replica, socket: Path) -> AsyncIterator[Proxy]:
    """deploy/haproxy.cfg on `port` in front of `a` and `b`, once it sees both UP."""
    env = os.environ | {
        "PAYFLOW_PROXY_BIND": f"127.0.0.1:{port}",
        "PAYFLOW_API_A": f"127.0.0.1:{a.port}",
        "PAYFLOW_API_B": f"127.0.0.1:{b.port}",
        "PAYFLOW_PROXY_STATS_SOCKET": str(socket),
    }
    assert HAPROXY is not None
    process = await asyncio.create_subprocess_exec(HAPROXY, "-db", "-f", str(CONFIG), env=env)
    try:
        proxy = Proxy(f"http://127.0.0.1:{port}", socket)
        async with asyncio.timeout(20):
            while not socket.exists():
                assert process.returncode is None, f"haproxy exited with {process.returncode}"
                await asyncio.sleep(0.05)
        for server in ("a", "b"):
            await proxy.wait_until(server, "UP")
        yield proxy
    finally:
        process.terminate()
        await process.wait()


async def wait_for_listener(db_url: str) -> None:
    """Until an API's event feed LISTENs: B's, opened by the first poll it holds (A holds none)."""
    async with asyncio.timeout(10):
        while not await _listeners(db_url):  # noqa: ASYNC110 - the state lives in PostgreSQL
            await asyncio.sleep(0.05)


async def _stop(worker: asyncio.subprocess.Process) -> None:
    """SIGTERM: the worker finishes its tasks in hand and exits."""
    worker.terminate()
    await worker.wait()


async def _token(http: httpx.AsyncClient, url: str, client_id: str, secret: str) -> dict[str, str]:
    r = await http.post(
        f"{url}/connect/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_two_api_replicas_behind_haproxy(
    dev_env: WorkflowEnvironment, signing_key: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    async with _pg_database() as db_url, AsyncExitStack() as running:
        sms_url = await running.enter_async_context(serve(sms.create_app(), free_port()))
        proxy_port = free_port()  # the proxy's URL is the API URL the workers give to peers
        env = api_env(
            db_url,
            dev_env,
            signing_key,
            task_queue=f"payflow-replicas-{uuid.uuid4()}",
            cn_mode="internal",
            cn_wait_s="10",
            events_hold_s="20",
            sms_url=sms_url,
            api_url=f"http://127.0.0.1:{proxy_port}",
        )
        a, b = Replica(env), Replica(env)
        running.push_async_callback(b.stop)
        running.push_async_callback(a.stop)
        started = await asyncio.gather(
            spawn_worker(env), spawn_worker(env), a.start(), b.start(), return_exceptions=True
        )
        for worker in started[:2]:  # what started is stopped even when another start failed
            if isinstance(worker, asyncio.subprocess.Process):
                running.push_async_callback(_stop, worker)
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        socket = tmp_path_factory.mktemp("proxy") / "haproxy.sock"
        proxy = await running.enter_async_context(haproxy(proxy_port, a, b, socket))
        issued = await client(db_url, SCOPES)
        http = await running.enter_async_context(httpx.AsyncClient(timeout=30))

        # 1. a token issued by replica A is accepted by B (a token B could not verify would be 401)
        bearer = await _token(http, a.url, issued.client_id, issued.client_secret)
        r = await http.get(f"{b.url}{UNKNOWN_INTENT}", headers=bearer)
        assert r.status_code == 404 and r.json()["code"] == "intent_not_found", r.text
        # ... and through the proxy, which sends one request to each replica in turn
        before = await proxy.stats()
        for _ in range(4):
            r = await http.get(f"{proxy.url}{UNKNOWN_INTENT}", headers=bearer)
            assert r.status_code == 404 and r.json()["code"] == "intent_not_found", r.text
        after = await proxy.stats()
        assert {s: int(after[s]["hrsp_4xx"]) - int(before[s]["hrsp_4xx"]) for s in after} == {"a": 2, "b": 2}

        # 2. one Idempotency-Key sent to both replicas at once makes one intent (both may answer 201:
        # each started it, Temporal ran one), and a retry through the proxy finds it (200)
        key = {"Idempotency-Key": f"replicas-{uuid.uuid4()}", **bearer}
        answers = await asyncio.gather(
            *(http.post(f"{url}/v1/payment-intents", json=INTENT, headers=key) for url in (a.url, b.url))
        )
        answers.append(await http.post(f"{proxy.url}/v1/payment-intents", json=INTENT, headers=key))
        assert [r.status_code in (200, 201) for r in answers] == [True, True, True], [r.text for r in answers]
        assert answers[-1].status_code == 200
        [intent_id] = {r.json()["id"] for r in answers}
        engine = make_engine(db_url)
        running.push_async_callback(engine.dispose)
        async with session_factory(engine)() as s:
            query = select(func.count()).select_from(Payment).where(Payment.intent_id == intent_id)
            assert (await s.exec(query)).one() == 1

        # 3. a long poll held on B is released by a settlement written through A (worker → NOTIFY)
        r = await http.post(
            f"{a.url}/v1/cases", json={"number": "R-1", "policy_number": "P-1"}, headers=bearer
        )
        assert r.status_code == 201, r.text
        case = r.json()
        feed = f"{b.url}/api/events/v1/dk/external/demo/receive?lastEventId="
        cursor = (await http.get(f"{feed}_0", headers=bearer)).json()["data"][-1]["id"]
        poll = asyncio.create_task(http.get(f"{feed}{cursor}", headers=bearer))
        await wait_for_listener(db_url)
        r = await http.post(
            f"{a.url}/v1/cases/{case['id']}/settlements", json=settlement(close=False), headers=bearer
        )
        assert r.status_code == 201, r.text
        settled_at = time.perf_counter()
        page = (await asyncio.wait_for(poll, 5)).json()
        assert time.perf_counter() - settled_at < 2  # woken, not the 20 s hold nor a 10 s heartbeat
        assert [e["type"] for e in page["data"]] == ["case_settled"]
        validate(page["data"][0]["attributes"])

        # 4. rolling restart of both replicas under a steady open-loop 4 req/s through the proxy
        load = asyncio.create_task(
            open_loop(ControlNumbers(http, proxy.url, bearer["Authorization"][7:]), RATE, LOAD_S)
        )
        started = time.perf_counter()
        for replica, name in ((a, "a"), (b, "b")):
            await replica.stop()
            await replica.start()
            await proxy.wait_until(name, "UP")
        restarted_s = time.perf_counter() - started
        outcomes = await load
        result = summary(outcomes)
        print(f"\nrolling restart of both replicas in {restarted_s:.1f} s under {RATE} req/s: {result}")
        assert restarted_s < LOAD_S, "the restarts outlasted the load: nothing was measured"
        assert result["requests"] == RATE * LOAD_S and result["ok"] == result["requests"], result
