"""Error responses in the OpenAPI document, in the shapes this API really sends.

FastAPI documents a 422 `HTTPValidationError` that api/errors.py never sends, and no other error:
clients, generators and the schemathesis run (tests/api/test_fuzz.py) need the real shapes. Every
operation gets them from its tag, so a new route is documented without listing it here:
problem+json everywhere, openIMIS' `{error_message, …}` beside it on the openIMIS routes (their
auth errors are problem+json), OAuth's `{error, error_description}` on the token endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from api.errors import OPENIMIS_TAG, PROBLEM

PROBLEM_SCHEMA = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details with a stable machine-readable `code`",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
    },
}
OPENIMIS_ERROR = {
    "title": "openIMIS error",
    "type": "object",
    "required": ["error_message"],
    "properties": {
        "error_message": {"type": "string"},
        "error_occured": {"type": "boolean"},
        "error_occurred": {"type": "boolean"},
    },
}
OAUTH_ERROR = {
    "title": "OAuth error",
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}
TOKEN_TAG = "auth"


def _content(operation: dict[str, Any]) -> dict[str, Any]:
    tags = operation.get("tags", [])
    if TOKEN_TAG in tags:
        return {"application/json": {"schema": OAUTH_ERROR}}
    problem = {PROBLEM: {"schema": PROBLEM_SCHEMA}}
    if OPENIMIS_TAG in tags:
        return {"application/json": {"schema": OPENIMIS_ERROR}, **problem}
    return problem


def declare_errors(operation: dict[str, Any]) -> None:
    """Give every error response of `operation` its schema, and the 4XX/5XX ranges a default."""
    responses = operation.setdefault("responses", {})
    content = _content(operation)
    if TOKEN_TAG not in operation.get("tags", []):
        responses.setdefault("4XX", {"description": "Client error"})
        responses.setdefault("5XX", {"description": "Unavailable (503 + Retry-After) or unexpected error"})
    for status, response in responses.items():
        if status[0] in "45":
            response["content"] = content
            if status == "422":
                response["description"] = "The request does not match the schema"


def document_errors(app: FastAPI) -> None:
    """Wrap `app.openapi` so the (cached) document it builds declares the error shapes."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        schema = build()
        if fresh:
            for item in schema.get("paths", {}).values():
                for operation in item.values():
                    declare_errors(operation)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
