"""Claim activities: every write of a case (revision, events) in one transaction, once."""

from __future__ import annotations

from temporalio import activity

from activities.webhooks import EventRelay
from domain.claim_flow import CaseChangeWrite, CaseCreation, RevisionCancel, SettlementWrite
from store import claims
from store.db import SessionFactory


class ClaimActivities:
    def __init__(self, sessions: SessionFactory, relay: EventRelay) -> None:
        self._sessions = sessions
        self._relay = relay

    @activity.defn
    async def create_case(self, creation: CaseCreation) -> int:
        event_id = await claims.create_case(
            self._sessions, creation.case, creation.correlation_id, creation.at
        )
        self._relay.kick()
        return event_id

    @activity.defn
    async def record_settlement(self, write: SettlementWrite) -> tuple[str, list[int]]:
        recorded = await claims.record_settlement(
            self._sessions,
            write.case_id,
            write.revision_no,
            write.document,
            write.correlation_id,
            write.at,
            write.changed_by,
            write.idempotency_key,
        )
        self._relay.kick()
        return recorded

    @activity.defn
    async def record_case_change(self, write: CaseChangeWrite) -> int:
        event_id = await claims.record_case_change(
            self._sessions,
            write.case_id,
            write.step,
            write.change,
            write.correlation_id,
            write.at,
            write.changed_by,
            write.reason,
            write.description,
        )
        self._relay.kick()
        return event_id

    @activity.defn
    async def cancel_revision(self, cancel: RevisionCancel) -> bool:
        cancelled = await claims.cancel_revision(self._sessions, cancel.case_id, cancel.token, cancel.update)
        self._relay.kick()  # the reversing case_settled, the claim_updated
        return cancelled
