"""Settlement API (research §1.5): one revision by its token, at any time (scope platform-case:read).

One indexed query (revision joined with its case) per read, skipped while the store is unchanged
(api/read_cache.py: the answer kept per reader's tenant, an ETag, 304 on `If-None-Match`). The answer
is a pure function of what that query returns, so its bytes are memoised on exactly those values: a
cancelled or superseded revision (another status or successor) renders anew.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from functools import lru_cache

from fastapi import APIRouter, Header, Request, Response, Security

from api.auth import Principal, authorize
from api.errors import ApiError
from api.read_cache import Answer, read_cache
from domain.settlement import CaseRef, SettlementInput, settlement_document
from store.claims import revision_by_token

router = APIRouter(tags=["settlements"])
V3 = "application/vnd.scalepoint.content.settlement.v3+json"
ACCEPTABLE = (V3, "application/json", "application/*", "*/*")
DOCUMENT = {"type": "object", "description": "the settlement of one revision (`case`, `settlementDetails`)"}
UNKNOWN = {400: {"description": "unknown token or another tenant"}}


async def _answer(request: Request, principal: Principal, token: str) -> Answer:
    """The revision's answer, kept per reader's tenant while the store is unchanged."""
    cache, key = read_cache(request), ("settlement", principal.tenant, token)
    version, kept = cache.get(key)
    if kept is not None:
        return kept
    return cache.put(key, version, await _revision(request, principal, token))


async def _revision(request: Request, principal: Principal, token: str) -> bytes:
    """Unknown token or another tenant's revision: 400, as Scalepoint answers (it reveals nothing)."""
    try:
        uuid.UUID(token)
    except ValueError:
        found = None
    else:
        found = await revision_by_token(request.app.state.sessions, token)
    if found is None or found[0].tenant != principal.tenant:
        raise ApiError(400, "unknown_revision", "No settlement revision with this token for this tenant.")
    revision, case, successor = found
    return _rendered(
        revision.token,
        revision.status,
        revision.created_at,
        revision.document,
        case.token,
        case.number,
        case.policy_number,
        successor,
    )


@lru_cache(maxsize=1024)
def _rendered(
    token: str,
    status: str,
    created_at: datetime,
    document: str,
    case_token: str,
    case_number: str,
    policy_number: str | None,
    successor: str | None,
) -> bytes:
    """The answer's bytes, from exactly the values it shows (the case's number and tokens, not its
    uuid or tenant): equal inputs, equal bytes, so memoising cannot serve a stale answer."""
    case = CaseRef(uuid="", token=case_token, number=case_number, tenant="", policyNumber=policy_number)
    doc = SettlementInput.model_validate_json(document)
    answer = settlement_document(case, token, status, created_at, doc, successor)
    return json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()


def _check_accept(accept: str | None) -> None:
    if accept and not any(a.split(";")[0].strip() in ACCEPTABLE for a in accept.split(",")):
        raise ApiError(406, "not_acceptable", f"This API answers {V3}.")


@router.get(
    "/webapp/ScalePoint/{country}/case/{tenant}/revision/{revision_token}",
    summary="Settlement of one revision (Scalepoint Settlement API v3)",
    response_class=Response,
    responses={200: {"content": {V3: {"schema": DOCUMENT}}}, **UNKNOWN},
)
async def scalepoint_settlement(
    country: str,
    tenant: str,
    revision_token: str,
    request: Request,
    principal: Principal = Security(authorize, scopes=["platform-case:read"]),
    accept: str | None = Header(default=None),
) -> Response:
    _check_accept(accept)
    if tenant != principal.tenant:
        raise ApiError(400, "unknown_revision", "No settlement revision with this token for this tenant.")
    return (await _answer(request, principal, revision_token)).response(request, V3)


@router.get(
    "/v1/settlements/{revision_token}",
    summary="Settlement of one revision",
    response_class=Response,
    responses={200: {"content": {"application/json": {"schema": DOCUMENT}}}, **UNKNOWN},
)
async def settlement(
    revision_token: str,
    request: Request,
    principal: Principal = Security(authorize, scopes=["platform-case:read"]),
    accept: str | None = Header(default=None),
) -> Response:
    _check_accept(accept)
    return (await _answer(request, principal, revision_token)).response(request, "application/json")
