"""Settlement API (research §1.5): one revision by its token, at any time (scope platform-case:read)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Header, Request, Security
from fastapi.responses import JSONResponse

from api.auth import Principal, authorize
from api.errors import ApiError
from domain.settlement import SettlementInput, settlement_document
from store.claims import case_ref, revision_by_token

router = APIRouter(tags=["settlements"])
V3 = "application/vnd.scalepoint.content.settlement.v3+json"
ACCEPTABLE = (V3, "application/json", "application/*", "*/*")


async def _revision(request: Request, principal: Principal, token: str) -> dict[str, Any]:
    """Unknown token or another tenant's revision: 400, as Scalepoint answers (it reveals nothing)."""
    try:
        uuid.UUID(token)
    except ValueError:
        found = None
    else:
        found = await revision_by_token(request.app.state.sessions, token)
    if found is None or found[0].tenant != principal.tenant:
        raise ApiError(400, "unknown_revision", "No settlement revision with this token for this tenant.")
    revision, case = found
    doc = SettlementInput.model_validate_json(revision.document)
    return settlement_document(case_ref(case), revision.token, revision.status, revision.created_at, doc)


def _check_accept(accept: str | None) -> None:
    if accept and not any(a.split(";")[0].strip() in ACCEPTABLE for a in accept.split(",")):
        raise ApiError(406, "not_acceptable", f"This API answers {V3}.")


@router.get(
    "/webapp/ScalePoint/{country}/case/{tenant}/revision/{revision_token}",
    summary="Settlement of one revision (Scalepoint Settlement API v3)",
    responses={400: {"description": "unknown token or another tenant"}},
)
async def scalepoint_settlement(
    country: str,
    tenant: str,
    revision_token: str,
    request: Request,
    principal: Principal = Security(authorize, scopes=["platform-case:read"]),
    accept: str | None = Header(default=None),
) -> JSONResponse:
    _check_accept(accept)
    if tenant != principal.tenant:
        raise ApiError(400, "unknown_revision", "No settlement revision with this token for this tenant.")
    return JSONResponse(await _revision(request, principal, revision_token), media_type=V3)


@router.get("/v1/settlements/{revision_token}", summary="Settlement of one revision", tags=["settlements"])
async def settlement(
    revision_token: str,
    request: Request,
    principal: Principal = Security(authorize, scopes=["platform-case:read"]),
    accept: str | None = Header(default=None),
) -> JSONResponse:
    _check_accept(accept)
    return JSONResponse(await _revision(request, principal, revision_token))
