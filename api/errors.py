"""Errors as application/problem+json with a stable machine-readable `code` (RFC 9457).

Outages (Temporal or the database unreachable, a workflow that does not answer in time) are 503
with Retry-After on every route, in the openIMIS shape on the openIMIS routes, and are logged as one
warning line each: they are expected, so no traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from api import outages

PROBLEM = "application/problem+json"
OPENIMIS_TAG = "openIMIS ePayment"
"""Routes with this tag answer errors in openIMIS' shape (`error_occured`, `error_message`)."""
log = logging.getLogger("payflow.api")


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers, self.extra = status, code, detail, headers, extra


class Unavailable(ApiError):
    """503 + Retry-After: a peer is down or did not answer in time; the same request may succeed later."""

    def __init__(
        self,
        detail: str,
        *,
        cause: str,
        code: str = "temporarily_unavailable",
        retry_after_s: int | None = None,
        quiet: bool = False,
    ) -> None:
        """`retry_after_s`: None for an outage, answered with the deployment's `outage_retry_after_s`."""
        super().__init__(503, code, detail)
        self.retry_after_s = retry_after_s
        self.cause = cause
        self.quiet = quiet
        """Not logged per request (shed load: api/admission.py logs a summary instead)."""


def problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": f"https://payflow.dev/problems/{code}",
        "title": code.replace("_", " "),
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def openimis_route(request: Request) -> bool:
    return OPENIMIS_TAG in getattr(request.scope.get("route"), "tags", ())


def unavailable(request: Request, exc: Unavailable) -> JSONResponse:
    if not exc.quiet:
        log.warning("%s %s answered 503 (%s): %s", request.method, request.url.path, exc.code, exc.cause)
    wait = exc.retry_after_s or request.app.state.settings.outage_retry_after_s
    headers = {"Retry-After": str(wait)}
    if openimis_route(request):
        body = {"error_occured": True, "error_message": exc.detail}
        return JSONResponse(body, status_code=503, headers=headers)
    return problem(503, exc.code, exc.detail, headers)


def outage(exc: Exception) -> Unavailable | None:
    """The 503 an escaped exception stands for, or None when it is not an outage."""
    if outages.temporal_outage(exc):
        detail = "The workflow service is unreachable or did not answer in time; retry later."
        return Unavailable(detail, cause=outages.cause(exc), code="workflow_unavailable")
    if outages.database_outage(exc):
        detail = "The database is unreachable; retry later."
        return Unavailable(detail, cause=outages.cause(exc), code="database_unavailable")
    return None


def install(app: FastAPI) -> None:
    @app.exception_handler(Unavailable)
    async def _unavailable(request: Request, exc: Unavailable) -> JSONResponse:
        return unavailable(request, exc)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return problem(exc.status, exc.code, exc.detail, exc.headers, **exc.extra)

    async def _escaped(request: Request, exc: Exception) -> JSONResponse:
        found = outage(exc)
        if found is None:
            log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
            return problem(500, "internal_error", "An unexpected error occurred; it has been logged.")
        return unavailable(request, found)

    for kind in (*outages.DATABASE_ERRORS, DBAPIError, RPCError, WorkflowUpdateRPCTimeoutOrCancelledError):
        app.add_exception_handler(kind, _escaped)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        if any(e["type"] == "json_invalid" for e in errors):
            return problem(400, "malformed_json", "The request body is not valid JSON.", errors=errors)
        return problem(422, "validation_failed", "The request does not match the schema.", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return problem(500, "internal_error", "An unexpected error occurred; it has been logged.")
