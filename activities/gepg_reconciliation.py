"""The GePG statement of a day (research §2.10, §5.5): a signed `gepgSpReconcReq` to
`/api/reconciliations/sig_sp_qrequest`, whose answer `gepgSpReconcResp` GePG posts later to our
`/api/GetReconciliationData`. The API keeps that answer in the store by SpReconcReqId and the activity
that asked waits for it there, heartbeating: the ReconciliationWorkflow's commands stay those of the
JSON gateway, whose statement comes back in the reply.

The request id is derived from the workflow and the day, not random as openIMIS draws it, so a retried
activity asks again under the same id and takes an answer that reached us after its predecessor gave up.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import date

from temporalio import activity

from activities.gepg_gateway import GepgGateway, done
from domain.errors import Refused
from domain.reconciliation import Statement
from gepg import codes, messages
from infra.settings import Settings
from store.db import SessionFactory
from store.gepg_statements import answer

REQUEST_PATH = "/api/reconciliations/sig_sp_qrequest"
POLL_S = 0.2


def request_id(workflow_id: str, day: date) -> str:
    """A number of up to 18 digits, as openIMIS's abs(GUID hash) is a number (SpReconcReqId ≤ 30)."""
    digest = hashlib.sha256(f"{workflow_id}/{day.isoformat()}".encode()).digest()
    return str(int.from_bytes(digest[:8]) % 10**18)


async def fetch(settings: Settings, gepg: GepgGateway, sessions: SessionFactory, day: date) -> Statement:
    """Ask GePG for `day`'s successful transactions (ReconcOpt 1) and wait for its answer; the
    activity's start-to-close timeout bounds the wait, and its retry asks again."""
    reconc_id = request_id(activity.info().workflow_id, day)
    inner = messages.reconciliation_request(reconc_id, settings.gepg_sp_code, settings.gepg_system_id, day)
    ack = await gepg.send(REQUEST_PATH, "default.sp.in", inner, messages.RECONCILIATION_REQUEST_ACK)
    status = messages.read_status_ack(ack, "ReconcStsCode")
    if not done(status, "a reconciliation request"):
        raise Refused(f"GePG refused the reconciliation request of {day}: {codes.reasons(status)}")
    while (answered := await answer(sessions, reconc_id)) is None:
        activity.heartbeat(reconc_id)
        await asyncio.sleep(POLL_S)
    status, lines = answered
    if not codes.done(status):  # 7324: a day without payments; a kept answer is not asked again
        raise Refused(f"GePG's reconciliation of {day} failed: {codes.reasons(status)}")
    return Statement(day=day, lines=lines)
