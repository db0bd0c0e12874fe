"""P5: Settlement API and Events API reads under wrk, beside a bare FastAPI route serving the same
bytes (bench/peers/bare_bytes.py, one uvicorn process like `payflow api`) and payflow's /healthz.

A Python client saturates before the server does, so the load comes from wrk (Debian package;
bench/setup.sh installs it when it is missing): one thread, 20 connections, each URL in turn.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path
from typing import Any

import httpx

from bench.context import Context
from bench.stack import PEERS, free_port

SETUP = Path(__file__).with_name("setup.sh")
CONNECTIONS = 20
V3 = "application/vnd.scalepoint.content.settlement.v3+json"
GOAL_RATIO = 0.5
UNIT_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


async def ensure_wrk() -> str | None:
    """wrk's path, installing it with bench/setup.sh when missing; None (and why) when it cannot."""
    if shutil.which("wrk"):
        return shutil.which("wrk")
    print("· wrk is missing: running bench/setup.sh (apt-get install wrk)", flush=True)
    proc = await asyncio.create_subprocess_exec("sh", str(SETUP))
    await proc.wait()
    return shutil.which("wrk")


async def wrk(url: str, headers: dict[str, str], seconds: int) -> dict[str, Any]:
    cmd = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", url]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out = (await proc.communicate())[0].decode()
    return parse_wrk(out)


def parse_wrk(out: str) -> dict[str, Any]:
    def latency(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        return round(float(m.group(1)) * UNIT_S[m.group(2)] * 1000, 2) if m else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:(.*)", out)
    return {
        "requests_per_s": float(rps.group(1)) if rps else 0.0,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
        "raw": out if not rps else "",
    }


async def settled_case(ctx: Context, http: httpx.AsyncClient, auth: dict[str, str]) -> tuple[str, str]:
    """A case with one settlement through the claim-handler API; its tenant and revision token."""
    api = ctx.stack.url["api"]
    r = await http.post(f"{api}/v1/cases", json={"number": "BENCH-P5", "policy_number": "P-5"}, headers=auth)
    r.raise_for_status()
    document = json.loads(Path(ctx.stack.info["demo_settlement"]).read_text())
    s = await http.post(f"{api}/v1/cases/{r.json()['id']}/settlements", json=document, headers=auth)
    s.raise_for_status()
    return ctx.stack.clients["claims"]["tenant"], s.json()["revision_token"]


async def run(ctx: Context) -> None:
    if await ensure_wrk() is None:
        ctx.report.add("P5", "reads under wrk", f"not run: wrk missing and {SETUP.name} could not install it")
        return
    stack = ctx.stack
    seconds = int(ctx.size(15, 4))
    auth = {"Authorization": f"Bearer {await stack.token('claims')}"}
    api = stack.url["api"]
    async with httpx.AsyncClient(timeout=30) as http:
        tenant, token = await settled_case(ctx, http, auth)
        targets = {
            "settlement": (
                f"{api}/webapp/ScalePoint/dk/case/{tenant}/revision/{token}",
                auth | {"Accept": V3},
            ),
            "events": (f"{api}/api/events/v1/dk/external/{tenant}/receive?lastEventId=_0", auth),
        }
        served = stack.workdir / "bare-bytes"
        served.mkdir(exist_ok=True)
        for name, (url, headers) in targets.items():
            r = await http.get(url, headers=headers)
            r.raise_for_status()
            (served / name).write_bytes(r.content)
            (served / f"{name}.type").write_text(r.headers["content-type"])
        settlement_url, settlement_headers = targets["settlement"]
        etag = (await http.get(settlement_url, headers=settlement_headers)).headers.get("etag")
    conditional = (settlement_url, settlement_headers | {"If-None-Match": etag}) if etag else None
    port = free_port()
    bare = stack.spawn(
        "bare-bytes",
        [str(stack.sut.python), str(PEERS / "bare_bytes.py"), "--dir", str(served), "--port", str(port)],
    )
    await stack.wait_http(f"http://127.0.0.1:{port}/bytes/settlement", bare)
    results: dict[str, dict[str, Any]] = {}
    try:
        for name, (url, headers) in targets.items():
            results[name] = await wrk(url, headers, seconds)
            results[f"bare {name}"] = await wrk(f"http://127.0.0.1:{port}/bytes/{name}", {}, seconds)
        results["healthz"] = await wrk(f"{api}/healthz", {}, seconds)
        if conditional:  # a client that kept the answer: 304 Not Modified
            results["settlement 304"] = await wrk(*conditional, seconds)
    finally:
        await bare.stop()
    ctx.report.data["p5"] = {
        "seconds": seconds,
        "connections": CONNECTIONS,
        "results": results,
        "bytes": {n: (served / n).stat().st_size for n in targets},
    }
    for name in targets:
        mine, base = results[name], results[f"bare {name}"]
        ratio = mine["requests_per_s"] / base["requests_per_s"] if base["requests_per_s"] else float("nan")
        bad = f", {mine['non_2xx']} non-2xx" if mine["non_2xx"] else ""
        ctx.report.add(
            "P5 reads (wrk, 20 conns)",
            f"{name} vs bare route",
            f"{mine['requests_per_s']:,.0f} vs {base['requests_per_s']:,.0f} req/s = {ratio:.2f}× "
            f"(p50 {mine['p50_ms']:g} vs {base['p50_ms']:g} ms{bad})",
            f"≥ {GOAL_RATIO}×",
            ratio >= GOAL_RATIO and not mine["non_2xx"],
        )
    for name, figure in (("healthz", "payflow /healthz"), ("settlement 304", "settlement, If-None-Match")):
        if name in results:
            h = results[name]
            measured = f"{h['requests_per_s']:,.0f} req/s (p50 {h['p50_ms']:g} ms)"
            ctx.report.add("P5 reads (wrk, 20 conns)", figure, measured)
