"""Scalepoint's v3 `case_settled` tests (Case1, Case2_1–Case2_5) through the API over real HTTP with a
real worker: each sequence posted as a claim handler would (`POST /v1/cases/{id}/settlements`, reopen
between), closed externally and through Scalepoint; the events read from the Events API carry the
figures and parties Scalepoint's tests assert and validate against the published schema. Against
`payflow dev`: `python -m tests.claims.scalepoint_dev .payflow/dev.json`.
"""

from __future__ import annotations

from tests.claims.scalepoint_dev import SEQUENCES, check_sequence
from tests.stack import StackFactory


async def test_scalepoint_case1_and_case2_sequences_through_the_api(make_stack: StackFactory) -> None:
    async with make_stack(events_hold_s=0.2) as stack:
        auth = {"Authorization": f"Bearer {await stack.token('claims')}"}
        for name in SEQUENCES:
            for via in (False, True):
                await check_sequence(stack.http, auth, "demo", name, via)
