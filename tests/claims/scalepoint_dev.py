"""Scalepoint's v3 Case1 and Case2 sequences against a running payflow, with `payflow dev` running:
`python -m tests.claims.scalepoint_dev [.payflow/dev.json]` (the manifest names the API and the
demo-claims client).

Each sequence is posted as a claim handler would (`POST /v1/cases/{id}/settlements`, reopen between),
closed externally and through Scalepoint; every `case_settled` read back from the Events API must
validate against the published schema and carry what Scalepoint's test asserts. The same check runs in
the test suite over a test stack (tests/claims/test_scalepoint_cases.py).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.claims.sample import validate
from tests.claims.scalepoint_cases import CASES, assert_scalepoint, revision

SEQUENCES = ["Case1", "Case2_1", "Case2_2", "Case2_3", "Case2_4", "Case2_5"]
HANDLER = {"changed_by": {"full_name": "Hanne Holm", "username": "hh"}}


async def check_sequence(
    http: httpx.AsyncClient, auth: dict[str, str], tenant: str, name: str, via: bool
) -> None:
    """Settle Scalepoint's sequence `name` on a new case and check every `case_settled` it emitted."""
    r = await http.post("/v1/cases", json={"number": f"{name}-{'sp' if via else 'ext'}"}, headers=auth)
    assert r.status_code == 201, r.text
    case = r.json()
    for n, step in enumerate(CASES[name]):
        if n:
            r = await http.post(f"/v1/cases/{case['id']}/reopen", json=HANDLER, headers=auth)
            assert r.status_code == 200, r.text
        r = await http.post(
            f"/v1/cases/{case['id']}/settlements", json=revision(step, via, str(uuid.uuid4())), headers=auth
        )
        assert r.status_code == 201, r.text
    settled: list[dict[str, Any]] = []
    cursor = f"_{case['case_created_event_id']}"
    while len(settled) < len(CASES[name]):  # each settle answered after its events committed
        r = await http.get(f"/api/events/v1/dk/external/{tenant}/receive?lastEventId={cursor}", headers=auth)
        assert r.status_code == 200 and r.json()["data"], r.text
        page = r.json()["data"]
        cursor = page[-1]["id"]
        settled += [
            e["attributes"]
            for e in page
            if e["type"] == "case_settled" and e["attributes"]["case"]["uuid"] == case["id"]
        ]
    for event, step in zip(settled, CASES[name], strict=True):
        validate(event)
        assert_scalepoint(event, step, via)


async def main(manifest_path: Path) -> None:
    manifest = json.loads(manifest_path.read_text())
    client = manifest["clients"]["demo-claims"]
    async with httpx.AsyncClient(base_url=manifest["api"], timeout=60) as http:
        r = await http.post(
            "/connect/token",
            data={"grant_type": "client_credentials"},
            auth=(client["client_id"], client["client_secret"]),
        )
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        for name in SEQUENCES:
            for via in (False, True):
                await check_sequence(http, auth, client["tenant"], name, via)
                print(f"{name} {'through Scalepoint' if via else 'externally'}: as Scalepoint's test asserts")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".payflow/dev.json")))
