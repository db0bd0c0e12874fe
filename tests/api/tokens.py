"""Access tokens the API's own TokenService issues, for tests that need more than the stack's clients."""

from __future__ import annotations

from typing import Any

from store.clients import SCOPES
from tests.stack import Stack


def issued(stack: Stack, tenant: str = "demo", scopes: frozenset[str] | None = None, **claims: Any) -> str:
    """A token signed by the API's key, for `tenant` with `scopes` (all by default). `claims` change
    the settings it is issued with for this one call (`jwt_audience`, `token_ttl_s`): tokens the API
    itself would never issue, such as expired ones."""
    saved = {name: getattr(stack.settings, name) for name in claims}
    try:
        for name, value in claims.items():
            setattr(stack.settings, name, value)
        chosen = sorted(SCOPES if scopes is None else scopes)
        return str(stack.app.state.tokens.issue(f"test-{tenant}", tenant, chosen)["access_token"])
    finally:
        for name, value in saved.items():
            setattr(stack.settings, name, value)
