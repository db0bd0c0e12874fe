"""Claim activities: every write of a case (revision, events) in one transaction, once."""

from __future__ import annotations

from temporalio import activity

from domain.claim_flow import CaseChangeWrite, CaseCreation, RevisionCancel, SettlementWrite
from store import claims
from store.db import SessionFactory


class ClaimActivities:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn
    async def create_case(self, creation: CaseCreation) -> int:
        return await claims.create_case(self._sessions, creation.case, creation.correlation_id, creation.at)

    @activity.defn
    async def record_settlement(self, write: SettlementWrite) -> tuple[str, list[int]]:
        return await claims.record_settlement(
            self._sessions,
            write.case_id,
            write.revision_no,
            write.document,
            write.correlation_id,
            write.at,
            write.changed_by,
        )

    @activity.defn
    async def record_case_change(self, write: CaseChangeWrite) -> int:
        return await claims.record_case_change(
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

    @activity.defn
    async def cancel_revision(self, cancel: RevisionCancel) -> bool:
        return await claims.cancel_revision(self._sessions, cancel.case_id, cancel.token)
