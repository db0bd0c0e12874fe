"""Claim cases, settlement revisions and their events, each written once in one transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.claim_flow import CancelUpdate, SettlementRecorded
from domain.errors import Conflict, NotFound
from domain.settlement import (
    CaseRef,
    ChangedBy,
    SettlementInput,
    TerminationReason,
    case_created,
    claim_updated,
    same_settlement,
)
from domain.settlement_delta import case_settled
from store.db import SessionFactory, transaction
from store.events import append
from store.models import ClaimCase, Event, SettlementRevision, utcnow


def case_ref(case: ClaimCase) -> CaseRef:
    return CaseRef(
        uuid=case.id,
        token=case.token,
        number=case.number,
        tenant=case.tenant,
        country=case.country,
        externalClaimId=case.external_claim_id,
        policyNumber=case.policy_number,
    )


async def create_case(sessions: SessionFactory, case: CaseRef, correlation_id: str, at: datetime) -> int:
    """The case and its `case_created` event; a retry finds both and returns the event id."""
    async with transaction(sessions) as s:
        if await s.get(ClaimCase, case.uuid) is None:
            s.add(
                ClaimCase(
                    id=case.uuid,
                    tenant=case.tenant,
                    country=case.country,
                    token=case.token,
                    number=case.number,
                    external_claim_id=case.externalClaimId,
                    policy_number=case.policyNumber,
                )
            )
            await s.flush()
        event = await append(s, case.tenant, f"{case.uuid}:created", case_created(case, correlation_id, at))
        assert event.id is not None
        return event.id


async def record_settlement(
    sessions: SessionFactory,
    case_id: str,
    revision_no: int,
    doc: SettlementInput,
    correlation_id: str,
    at: datetime,
    changed_by: ChangedBy,
    idempotency_key: str | None = None,
) -> tuple[str, list[int]]:
    """Revision `revision_no` with a fresh unguessable token, its `case_settled` event (a delta after
    an earlier revision) and, when it closes the case, `claim_updated`; all or nothing, once. A repeated
    `idempotency_key` answers the revision it first made, whatever run of the workflow asks."""
    if idempotency_key is not None and (
        first := await settled_with_key(sessions, case_id, idempotency_key, doc=doc)
    ):
        return first.revision_token, first.event_ids
    async with transaction(sessions) as s:
        case = await s.get(ClaimCase, case_id)
        if case is None:
            raise NotFound(f"case {case_id} not found")
        ref = case_ref(case)
        revision = (
            await s.exec(
                select(SettlementRevision).where(
                    SettlementRevision.case_id == case_id, SettlementRevision.revision_no == revision_no
                )
            )
        ).first()
        if revision is None:
            revision = SettlementRevision(
                token=str(uuid.uuid4()),
                case_id=case_id,
                tenant=case.tenant,
                revision_no=revision_no,
                document=doc.model_dump_json(),
                idempotency_key=idempotency_key,
            )
            s.add(revision)
            await s.flush()
        previous = await _standing(s, case_id, below=revision_no)
        earlier = SettlementInput.model_validate_json(previous.document) if previous else None
        key = f"{case_id}:settlement:{revision_no}"
        # before the appends: they are the transaction's last writes (store/events.py)
        case.closed = case.closed or doc.close
        case.updated_at = utcnow()
        s.add(case)
        events = [
            await append(
                s, case.tenant, key, case_settled(ref, revision.token, correlation_id, at, doc, earlier)
            )
        ]
        if doc.close:
            payload = claim_updated(ref, correlation_id, at, "CaseClosed", changed_by)
            events.append(await append(s, case.tenant, f"{key}:closed", payload))
        return revision.token, [e.id for e in events if e.id is not None]


async def settled_with_key(
    sessions: SessionFactory,
    case_id: str,
    key: str,
    tenant: str | None = None,
    doc: SettlementInput | None = None,
) -> SettlementRecorded | None:
    """What the settlement made with this idempotency key answered: its revision and its events
    (only a revision of `tenant`'s, when given). Conflict when `doc` is not what that key settled."""
    async with sessions() as s:
        q = select(SettlementRevision).where(
            SettlementRevision.case_id == case_id, SettlementRevision.idempotency_key == key
        )
        if tenant is not None:
            q = q.where(SettlementRevision.tenant == tenant)
        revision = (await s.exec(q)).first()
        if revision is None:
            return None
        if doc is not None and not same_settlement(revision.document, doc):
            raise Conflict(
                f"Idempotency-Key {key!r} settled another settlement (revision {revision.revision_no})"
            )
        prefix = f"{case_id}:settlement:{revision.revision_no}"
        events = await s.exec(
            select(Event.id)
            .where(col(Event.dedupe_key).in_([prefix, f"{prefix}:closed"]))
            .order_by(col(Event.id))
        )
        return SettlementRecorded(
            revision_no=revision.revision_no,
            revision_token=revision.token,
            event_ids=[i for i in events.all() if i is not None],
        )


async def record_case_change(
    sessions: SessionFactory,
    case_id: str,
    step: int,
    change: str,
    correlation_id: str,
    at: datetime,
    changed_by: ChangedBy,
    reason: TerminationReason = "None",
    description: str | None = None,
) -> int:
    """CaseClosed or CaseReopened, as a `claim_updated` event; once per workflow step."""
    async with transaction(sessions) as s:
        case = await s.get(ClaimCase, case_id)
        if case is None:
            raise NotFound(f"case {case_id} not found")
        case.closed = change == "CaseClosed"
        case.updated_at = utcnow()
        s.add(case)
        payload = claim_updated(case_ref(case), correlation_id, at, change, changed_by, reason, description)
        event = await append(s, case.tenant, f"{case_id}:change:{step}", payload)
        assert event.id is not None
        return event.id


async def _standing(s: AsyncSession, case_id: str, below: int | None = None) -> SettlementRevision | None:
    """The case's latest revision not cancelled (below revision `below`): what its `case_settled`
    events sum to, since a cancel emits the reversal back to it."""
    q = select(SettlementRevision).where(
        SettlementRevision.case_id == case_id, SettlementRevision.status == "SETTLED"
    )
    if below is not None:
        q = q.where(col(SettlementRevision.revision_no) < below)
    return (await s.exec(q.order_by(col(SettlementRevision.revision_no).desc()))).first()


async def cancel_revision(
    sessions: SessionFactory, case_id: str, token: str, update: CancelUpdate | None = None
) -> bool:
    """Cancel the revision; when it was the one standing, emit the `case_settled` that brings the
    events' sum back to the revision now standing (or to nothing), then (given `update`) the
    `claim_updated` naming the cancelled revision; all in the same transaction, once."""
    async with transaction(sessions) as s:
        revision = (
            await s.exec(
                select(SettlementRevision).where(
                    SettlementRevision.token == token, SettlementRevision.case_id == case_id
                )
            )
        ).first()
        if revision is None:
            return False
        case = await s.get(ClaimCase, case_id)
        assert case is not None
        standing = await _standing(s, case_id)
        revision.status = "CANCELLED"
        s.add(revision)
        case.updated_at = utcnow()
        s.add(case)
        if standing is not None and standing.token == token:
            after = await _standing(s, case_id, below=revision.revision_no)
            cancelled = SettlementInput.model_validate_json(revision.document)
            back_to = SettlementInput.model_validate_json(after.document) if after else None
            payload = case_settled(case_ref(case), token, str(uuid.uuid4()), utcnow(), back_to, cancelled)
            await append(s, case.tenant, f"{case_id}:cancel:{revision.revision_no}", payload)
        if update is not None:
            payload = claim_updated(
                case_ref(case),
                update.correlation_id,
                update.at,
                "SettlementCancelled",
                update.changed_by,
                revision_token=token,
            )
            await append(s, case.tenant, f"{case_id}:cancel:{revision.revision_no}:updated", payload)
        return True


async def revision_by_token(
    sessions: SessionFactory, token: str
) -> tuple[SettlementRevision, ClaimCase, str | None] | None:
    """The revision, its case and the token of the revision after it (None while it is the latest),
    in one indexed query (the Settlement API's read)."""
    later = aliased(SettlementRevision)
    successor = (
        select(later.token)
        .where(
            later.case_id == SettlementRevision.case_id, later.revision_no > SettlementRevision.revision_no
        )
        .order_by(later.revision_no)
        .limit(1)
        .correlate(SettlementRevision)
        .scalar_subquery()
    )
    async with sessions() as s:
        joined = col(ClaimCase.id) == SettlementRevision.case_id
        q = (
            select(SettlementRevision, ClaimCase, successor)
            .join(ClaimCase, joined)
            .where(SettlementRevision.token == token)
        )
        found = (await s.exec(q)).first()
        return (found[0], found[1], found[2]) if found is not None else None


async def case_by_id(sessions: SessionFactory, case_id: str) -> ClaimCase | None:
    async with sessions() as s:
        return await s.get(ClaimCase, case_id)


async def tenant_case(
    sessions: SessionFactory, tenant: str, case_id: str
) -> tuple[ClaimCase, list[SettlementRevision]] | None:
    """The tenant's case with its revisions, oldest first: what a case read falls back to when its
    workflow does not answer."""
    async with sessions() as s:
        case = await s.get(ClaimCase, case_id)
        if case is None or case.tenant != tenant:
            return None
        q = select(SettlementRevision).where(SettlementRevision.case_id == case_id)
        return case, list((await s.exec(q.order_by(col(SettlementRevision.revision_no)))).all())


async def case_events(sessions: SessionFactory, tenant: str, case_id: str, limit: int) -> list[Event]:
    """The case's latest events, newest first (their dedupe keys start with the case id)."""
    q = (
        select(Event)
        .where(Event.tenant == tenant, col(Event.dedupe_key).startswith(f"{case_id}:", autoescape=True))
        .order_by(col(Event.id).desc())
        .limit(limit)
    )
    async with sessions() as s:
        return list((await s.exec(q)).all())


async def search_cases(
    sessions: SessionFactory,
    tenant: str,
    *,
    number: str | None = None,
    closed: bool | None = None,
    updated_since: datetime | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[ClaimCase]:
    """The tenant's cases matching every filter given, by (created_at, id) after `after`: a keyset
    page, stable while cases are added or change."""
    q = select(ClaimCase).where(ClaimCase.tenant == tenant)
    if number is not None:
        q = q.where(ClaimCase.number == number)
    if closed is not None:
        q = q.where(ClaimCase.closed == closed)
    if updated_since is not None:
        q = q.where(col(ClaimCase.updated_at) >= updated_since)
    if after is not None:
        at, case_id = after
        created = col(ClaimCase.created_at)
        q = q.where((created > at) | ((created == at) & (col(ClaimCase.id) > case_id)))
    async with sessions() as s:
        return list(
            (await s.exec(q.order_by(col(ClaimCase.created_at), col(ClaimCase.id)).limit(limit))).all()
        )
