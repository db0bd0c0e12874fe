"""SMS-gateway simulator: stores every message it is sent, once per Idempotency-Key.

`/_sim/behaviour` with `fail_next: N` makes the next N sends answer 503, to test retries.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Header, Response
from pydantic import BaseModel


class OutgoingSms(BaseModel):
    to: str
    text: str
    reference: str | None = None


class Behaviour(BaseModel):
    fail_next: int = 0


@dataclass
class SmsState:
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_next: int = 0
    accepted: Counter[str] = field(default_factory=Counter)
    """Sends answered 202, per Idempotency-Key: a real provider may not deduplicate as `messages` does."""


def create_app() -> FastAPI:
    app = FastAPI(title="payflow SMS simulator")
    state = SmsState()
    app.state.sim = state

    @app.post("/messages", status_code=202)
    async def send(sms: OutgoingSms, response: Response, idempotency_key: str = Header()) -> dict[str, Any]:
        if state.fail_next > 0:
            state.fail_next -= 1
            response.status_code = 503
            return {"error": "temporarily unavailable"}
        state.accepted[idempotency_key] += 1
        if idempotency_key not in state.messages:
            state.messages[idempotency_key] = {
                "id": len(state.messages) + 1,
                "key": idempotency_key,
                "received_at": datetime.now(UTC).isoformat(),
                **sms.model_dump(),
            }
        return state.messages[idempotency_key]

    @app.get("/messages")
    async def messages(to: str | None = None) -> dict[str, Any]:
        found = [m for m in state.messages.values() if to is None or m["to"] == to]
        return {"messages": found}

    @app.post("/_sim/behaviour")
    async def set_behaviour(behaviour: Behaviour) -> Behaviour:
        state.fail_next = behaviour.fail_next
        return behaviour

    return app
