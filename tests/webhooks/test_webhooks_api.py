"""Webhook endpoints and deliveries over the API: SSRF guard, inspection, replay, flow A events."""

from __future__ import annotations

import json
from typing import Any

from payflow.servers import free_port, serve
from simulators import receiver
from tests.api.helpers import intent, wait_for
from tests.stack import Stack, StackFactory


async def _endpoint(stack: Stack, url: str, **body: Any) -> dict[str, Any]:
    r = await stack.post("/v1/endpoints", as_="support", json={"url": url} | body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_registration_refuses_private_and_plain_http_unless_allow_listed(
    make_stack: StackFactory,
) -> None:
    async with make_stack(webhook_allow_hosts="127.0.0.1") as stack:
        refused = {
            "https://10.1.2.3/hook": "not a public address",
            "https://192.168.1.1/hook": "not a public address",
            "https://[::1]/hook": "not a public address",
            "https://[64:ff9b::7f00:1]/hook": "not a public address",  # NAT64 of 127.0.0.1
            "https://[2002:7f00:1::]/hook": "not a public address",  # 6to4 of 127.0.0.1
            "https://localhost/hook": "localhost is not an allowed public address",
            "http://hooks.example.org/hook": "https",
        }
        for url, reason in refused.items():
            r = await stack.post("/v1/endpoints", as_="support", json={"url": url})
            assert r.status_code == 422 and r.json()["code"] == "endpoint_url_refused", (url, r.text)
            assert reason in r.json()["detail"], (url, r.json()["detail"])
        r = await stack.post("/v1/endpoints", as_="support", json={"url": "ftp://127.0.0.1/hook"})
        assert r.status_code == 422 and r.json()["code"] == "validation_failed"
        created = await _endpoint(stack, "http://127.0.0.1:9/hook", event_types=["case_settled"])
        assert created["secret"].startswith("whsec_") and created["event_types"] == ["case_settled"]
        r = await stack.get(f"/v1/endpoints/{created['id']}", as_="support")
        assert r.json()["secret"] is None  # shown once
        r = await stack.request(
            "PATCH", f"/v1/endpoints/{created['id']}", as_="support", json={"url": "https://172.16.0.1/x"}
        )
        assert r.status_code == 422
        r = await stack.request(
            "PATCH", f"/v1/endpoints/{created['id']}", as_="support", json={"enabled": False}
        )
        assert r.json()["enabled"] is False
        rotated = (await stack.post(f"/v1/endpoints/{created['id']}/rotate-secret", as_="support")).json()
        assert rotated["secret"] != created["secret"]
        assert (await stack.get(f"/v1/endpoints/{created['id']}", as_="support-other")).status_code == 404
        assert (await stack.get("/v1/endpoints", as_="support-other")).json() == []
        assert (await stack.get("/v1/endpoints", as_="eo")).status_code == 403


async def test_payment_events_of_flow_a_reach_a_subscribed_endpoint(make_stack: StackFactory) -> None:
    app = receiver.create_app()
    async with (
        serve(app, free_port()) as url,
        make_stack(cn_mode="internal", webhook_allow_hosts="127.0.0.1") as stack,
    ):
        created = await _endpoint(
            stack, f"{url}/webhooks", event_types=["payment_intent.*", "control_number.assigned"]
        )
        app.state.sim.secrets.append(created["secret"])
        answer = (await stack.post("/api/GetControlNumber", json=intent())).json()
        await wait_for(lambda: len(app.state.sim.delivered()) == 2, "two payment events")
        bodies = sorted((json.loads(r["body"]) for r in app.state.sim.delivered()), key=lambda b: b["type"])
        assert [b["type"] for b in bodies] == ["control_number.assigned", "payment_intent.created"]
        assert bodies[0]["data"]["intent"]["control_number"] == answer["control_number"]
        assert all(r["valid"] for r in app.state.sim.received)

        listed = (await stack.get("/v1/deliveries", as_="support")).json()
        assert sorted(d["event_type"] for d in listed) == [
            "control_number.assigned",
            "payment_intent.created",
        ]
        shown = (await stack.get(f"/v1/deliveries/{listed[0]['id']}", as_="support")).json()
        sent = {json.loads(r["body"])["id"]: r["webhook_id"] for r in app.state.sim.delivered()}
        assert shown["webhook_id"] == sent[f"_{listed[0]['event_id']}"]
        assert [a["status_code"] for a in shown["attempt_log"]] == [200]
        assert (await stack.get(f"/v1/deliveries/{listed[0]['id']}", as_="support-other")).status_code == 404


async def test_replay_through_the_api(make_stack: StackFactory) -> None:
    app = receiver.create_app()
    async with (
        serve(app, free_port()) as url,
        make_stack(webhook_allow_hosts="127.0.0.1", webhook_schedule="0") as stack,
    ):
        created = await _endpoint(stack, f"{url}/webhooks")
        app.state.sim.secrets.append(created["secret"])
        app.state.sim.behaviour.down = True
        r = await stack.post("/v1/cases", as_="claims", json={"number": "R-1"})
        assert r.status_code == 201
        failed: list[dict[str, Any]] = []

        async def poll() -> None:
            failed[:] = (await stack.get("/v1/deliveries?status=failed", as_="support")).json()

        for _ in range(100):
            await poll()
            if failed:
                break
        [delivery] = failed
        app.state.sim.behaviour.down = False
        r = await stack.post(f"/v1/deliveries/{delivery['id']}/replay", as_="support")
        assert r.status_code == 202 and r.json()["series"] == 2
        await wait_for(lambda: len(app.state.sim.delivered()) == 1, "the replayed delivery")
        assert app.state.sim.delivered()[0]["webhook_id"] == delivery["webhook_id"]
        r = await stack.post("/v1/deliveries/replay", as_="support", json={"endpoint_id": created["id"]})
        assert r.json() == {"matched": 0, "replayed": 0, "skipped": 0}  # nothing failed any more
        # a time without a zone is read as UTC, not a 500 (the store wants zoned times)
        zoneless = "2000-01-01T00:00:00"
        r = await stack.get(f"/v1/deliveries?since={zoneless}&until=2999-01-01T00:00:00", as_="support")
        assert r.status_code == 200 and [d["id"] for d in r.json()] == [delivery["id"]], r.text
        r = await stack.post("/v1/deliveries/replay", as_="support", json={"status": None, "since": zoneless})
        assert r.status_code == 200 and r.json()["matched"] == 1, r.text
