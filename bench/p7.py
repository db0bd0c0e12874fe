"""P7: the price of durability. GetControlNumber on payflow beside a plain FastAPI + SQLAlchemy
service doing the same work in one request and one transaction (bench/peers/plain_cn.py), on the
same database, at 10 req/s open loop; payflow's figure is P2's 10 req/s run when there was one."""

from __future__ import annotations

from bench import load
from bench.context import Context
from bench.p2 import line
from bench.report import ms
from bench.stack import PEERS, free_port

RATE = 10
GOAL_RATIO = 2.0


async def run(ctx: Context) -> None:
    await ctx.mode("internal")
    stack = ctx.stack
    seconds = ctx.size(20, 4)
    port = free_port()
    peer = stack.spawn(
        "plain-peer", [str(stack.sut.python), str(PEERS / "plain_cn.py"), "--port", str(port)], stack.env()
    )
    url = f"http://127.0.0.1:{port}"
    await stack.wait_http(f"{url}/openapi.json", peer)
    rates = [RATE] if ctx.quick else [5, RATE, 20, 40]
    plain = {}
    try:
        async with load.client(ctx.timeout_s) as http:
            call = load.ControlNumbers(http, url, None)
            for _ in range(5):
                answer = await call()
                if not answer.ok:
                    raise RuntimeError(f"the plain service answered {answer}")
            for rate in rates:
                plain[rate] = (await ctx.measure(call, rate, seconds))[0]
    finally:
        await peer.stop()
    payflow = ctx.shared.get("p2.internal", {}).get(RATE)
    if payflow is None:
        await ctx.settle()
        async with load.client(ctx.timeout_s) as http:
            payflow = (await ctx.measure(await ctx.control_numbers(http), RATE, seconds))[0]
    ratio = payflow["p50_ms"] / plain[RATE]["p50_ms"]
    ctx.report.data["p7"] = {"plain": plain, "payflow": payflow, "ratio_p50": round(ratio, 2)}
    for rate, s in plain.items():
        ctx.report.add("P7 plain service", f"{rate} req/s", line(s))
    ctx.report.add(
        "P7 payflow / plain",
        f"p50 at {RATE} req/s",
        f"{ms(payflow['p50_ms'])} / {ms(plain[RATE]['p50_ms'])} = {ratio:.1f}×",
        f"≤ {GOAL_RATIO:g}×",
        ratio <= GOAL_RATIO,
    )
