"""Pooled control numbers (research §5.3): numbers billed in bulk per product ahead of demand and
handed to intents on request, so an intent in pool mode has its number without a gateway round trip."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

POOL_BILL_YEARS = 3
"""A pooled bill expires three years after it is made (uspPrepareBulkControlNumberRequests)."""


class PoolDraw(BaseModel):
    """What an intent in pool mode got: its number, or why it got none (empty pool, cancelled)."""

    control_number: str | None = None
    reason: str | None = None


class TopUpInput(BaseModel):
    """One run of the top-up: the products to keep stocked and how (fixed when the run starts)."""

    products: list[str] = []
    """Empty: every product of the registry."""
    minimum: int = Field(default=200, ge=0)
    batch: int = Field(default=100, ge=1)
    expiry_days: int = Field(default=POOL_BILL_YEARS * 365, ge=1)


class PoolShortfall(BaseModel):
    product_code: str
    free: int
    count: int


class BulkRequest(BaseModel):
    """One bulk bill request for a product's pool; `key` is the idempotency key of its gateway call."""

    key: str = Field(max_length=100)
    product_code: str
    count: int = Field(ge=1)
    expiry_days: int


class BulkOrder(BaseModel):
    """What the gateway is asked for: `count` bills of the product's lump sum, each for one pool number."""

    request_key: str
    request_id: int
    """The request row's id, which a gateway that answers later by callback (GePG) carries in the bill ids."""
    product_code: str
    amount: Decimal
    expires_at: datetime
    count: int


POOL_BILL_PREFIX = "pool-"
"""Bill ids of pool bills: `pool-<request id>-<n>`; an intent's bill id is its payment id (digits)."""


def pool_bill_id(request_id: int, n: int) -> str:
    return f"{POOL_BILL_PREFIX}{request_id}-{n}"


def pool_request_of(bill_id: str) -> int | None:
    """The pool request a bill id belongs to; None for an intent's bill. Raises ValueError when it
    has the pool prefix but not the form."""
    if not bill_id.startswith(POOL_BILL_PREFIX):
        return None
    request_id, _, n = bill_id.removeprefix(POOL_BILL_PREFIX).partition("-")
    if not (request_id.isdigit() and n.isdigit()):
        raise ValueError(f"{bill_id} is not a pool bill id")
    return int(request_id)


class PooledBill(BaseModel):
    bill_id: str
    control_number: str


class BulkReply(BaseModel):
    """The gateway's answer: accepted (7101) with the numbers, or refused with its code and message."""

    accepted: bool
    code: str
    message: str = ""
    bills: list[PooledBill] = []


class TopUpResult(BaseModel):
    product_code: str
    requested: int
    added: int
    reason: str | None = None


def numbers_to_request(free: int, minimum: int, batch: int) -> int:
    """How many numbers to request: none while the pool holds its minimum; otherwise enough whole
    batches to bring it back to the minimum (openIMIS requests needed = minimum − free at once)."""
    needed = minimum - free
    if needed <= 0:
        return 0
    return -(-needed // batch) * batch


class PoolTake(BaseModel):
    """An intent's request for a pool number whose bill is valid at least until `valid_until`."""

    payment_id: int
    valid_until: datetime
