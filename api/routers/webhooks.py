"""Webhook endpoints and deliveries, for support staff (scope support): manage, inspect, replay."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Security
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints

from api.auth import Principal, authorize
from api.delivery_replay import replay, replay_all
from api.errors import ApiError
from api.pagination import since as in_utc
from api.schemas import RowId
from infra.ssrf import allowed_hosts, tenant_problem
from store.models import Delivery, DeliveryAttempt, WebhookEndpoint
from store.webhooks import WebhookStore, generate_secret

router = APIRouter(tags=["webhooks"])
Support = Security(authorize, scopes=["support"])
EventType = Annotated[str, StringConstraints(pattern=r"^[a-z_]+(\.[a-z_*]+)*$", max_length=60)]


class OAuthSettings(BaseModel):
    """The customer's own client-credentials grant, if its endpoint wants a bearer token."""

    model_config = ConfigDict(extra="forbid")

    token_url: HttpUrl
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    client_secret: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    scope: Annotated[str, StringConstraints(max_length=500)] | None = None


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl
    event_types: list[EventType] = Field(default=[], max_length=50)
    description: Annotated[str, StringConstraints(max_length=500)] = ""
    oauth: OAuthSettings | None = None


class EndpointChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl | None = None
    event_types: list[EventType] | None = Field(default=None, max_length=50)
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    enabled: bool | None = None


class EndpointView(BaseModel):
    id: str
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    oauth: bool
    secret: str | None = None
    """Shown when the endpoint is created and when its secret is rotated, never again."""

    @classmethod
    def of(cls, e: WebhookEndpoint, secret: str | None = None) -> EndpointView:
        return cls(
            id=e.id,
            url=e.url,
            description=e.description,
            event_types=[t for t in e.event_types.split(",") if t],
            enabled=e.enabled,
            disabled_reason=e.disabled_reason,
            failing_since=e.failing_since,
            oauth=e.oauth_token_url is not None,
            secret=secret,
        )


class AttemptView(BaseModel):
    series: int
    number: int
    at: datetime
    status_code: int | None
    latency_ms: int | None
    error: str | None
    response_body: str | None

    @classmethod
    def of(cls, a: DeliveryAttempt) -> AttemptView:
        return cls(**a.model_dump(include=set(cls.model_fields)))


class DeliveryView(BaseModel):
    id: int
    event_id: int
    endpoint_id: str
    event_type: str
    status: str
    series: int
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    webhook_id: str
    attempt_log: list[AttemptView] | None = None

    @classmethod
    async def of_each(cls, store: WebhookStore, deliveries: list[Delivery]) -> list[DeliveryView]:
        """Views of `deliveries` with their events' webhook-ids, read in one query."""
        ids = await store.webhook_ids({d.event_id for d in deliveries})
        fields = set(cls.model_fields) - {"webhook_id", "attempt_log"}
        return [cls(**d.model_dump(include=fields), webhook_id=ids[d.event_id]) for d in deliveries]


class ReplayFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint_id: str | None = None
    event_type: str | None = None
    status: Literal["failed", "succeeded", "pending"] | None = "failed"
    since: datetime | None = None
    until: datetime | None = None


class ReplayCounts(BaseModel):
    matched: int
    replayed: int
    skipped: int


def _store(request: Request) -> WebhookStore:
    store: WebhookStore = request.app.state.webhook_store
    return store


async def _checked(request: Request, url: str) -> str:
    problem = await tenant_problem(url, allowed_hosts(request.app.state.settings.webhook_allow_hosts))
    if problem is not None:
        raise ApiError(422, "endpoint_url_refused", problem)
    return url


@router.post("/v1/endpoints", status_code=201, response_model=EndpointView)
async def create_endpoint(
    body: EndpointCreate, request: Request, principal: Principal = Support
) -> EndpointView:
    """Register a receiver: https on a public address (or an allow-listed host). The secret is shown once."""
    url = await _checked(request, str(body.url))
    oauth = None
    if body.oauth is not None:
        oauth = body.oauth.model_dump() | {"token_url": await _checked(request, str(body.oauth.token_url))}
    secret = generate_secret()
    endpoint = await _store(request).create_endpoint(
        principal.tenant, url, secret, event_types=body.event_types, description=body.description, oauth=oauth
    )
    return EndpointView.of(endpoint, secret)


@router.get("/v1/endpoints", response_model=list[EndpointView])
async def list_endpoints(request: Request, principal: Principal = Support) -> list[EndpointView]:
    return [EndpointView.of(e) for e in await _store(request).endpoints(principal.tenant)]


async def _endpoint(request: Request, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await _store(request).endpoint(endpoint_id, principal.tenant)
    if endpoint is None:
        raise ApiError(404, "endpoint_not_found", f"No endpoint {endpoint_id} for this tenant.")
    return endpoint


@router.get("/v1/endpoints/{endpoint_id}", response_model=EndpointView)
async def get_endpoint(endpoint_id: str, request: Request, principal: Principal = Support) -> EndpointView:
    return EndpointView.of(await _endpoint(request, principal, endpoint_id))


@router.patch("/v1/endpoints/{endpoint_id}", response_model=EndpointView)
async def change_endpoint(
    endpoint_id: str, body: EndpointChange, request: Request, principal: Principal = Support
) -> EndpointView:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "url" in changes:
        changes["url"] = await _checked(request, str(body.url))
    changed = await _store(request).change_endpoint(endpoint_id, principal.tenant, **changes)
    if changed is None:
        raise ApiError(404, "endpoint_not_found", f"No endpoint {endpoint_id} for this tenant.")
    return EndpointView.of(changed)


@router.post("/v1/endpoints/{endpoint_id}/rotate-secret", response_model=EndpointView)
async def rotate_secret(endpoint_id: str, request: Request, principal: Principal = Support) -> EndpointView:
    """A new secret; the previous one keeps signing beside it for 24 hours."""
    endpoint = await _endpoint(request, principal, endpoint_id)
    secret = generate_secret()
    await _store(request).rotate_secret(endpoint.id, secret, datetime.now(UTC))
    return EndpointView.of(endpoint, secret)


@router.get("/v1/deliveries", response_model=list[DeliveryView])
async def list_deliveries(
    request: Request,
    principal: Principal = Support,
    endpoint_id: str | None = None,
    status: Literal["failed", "succeeded", "pending"] | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryView]:
    found = await _store(request).deliveries(
        principal.tenant,
        endpoint_id=endpoint_id,
        status=status,
        event_type=event_type,
        since=in_utc(since, "since"),
        until=in_utc(until, "until"),
        limit=limit,
    )
    return await DeliveryView.of_each(_store(request), found)


async def _delivery(request: Request, principal: Principal, delivery_id: int) -> Delivery:
    delivery = await _store(request).delivery(delivery_id, principal.tenant)
    if delivery is None:
        raise ApiError(404, "delivery_not_found", f"No delivery {delivery_id} for this tenant.")
    return delivery


@router.get("/v1/deliveries/{delivery_id}", response_model=DeliveryView)
async def get_delivery(delivery_id: RowId, request: Request, principal: Principal = Support) -> DeliveryView:
    delivery = await _delivery(request, principal, delivery_id)
    store = _store(request)
    [view] = await DeliveryView.of_each(store, [delivery])
    view.attempt_log = [AttemptView.of(a) for a in await store.attempts(delivery_id)]
    return view


@router.post("/v1/deliveries/{delivery_id}/replay", status_code=202, response_model=DeliveryView)
async def replay_delivery(
    delivery_id: RowId, request: Request, principal: Principal = Support
) -> DeliveryView:
    """Deliver again with the same webhook-id and a new series of attempts."""
    delivery = await _delivery(request, principal, delivery_id)
    if not await replay(request.app.state.temporal, request.app.state.settings, _store(request), delivery):
        raise ApiError(409, "delivery_in_progress", "This delivery is still being attempted.")
    [view] = await DeliveryView.of_each(_store(request), [delivery])
    return view


@router.post("/v1/deliveries/replay", response_model=ReplayCounts)
async def replay_deliveries(
    body: ReplayFilter, request: Request, principal: Principal = Support
) -> ReplayCounts:
    """Replay every delivery of the tenant that matches (failed ones by default); answers with counts."""
    store = _store(request)
    found = await store.deliveries(
        principal.tenant,
        endpoint_id=body.endpoint_id,
        status=body.status,
        event_type=body.event_type,
        since=in_utc(body.since, "since"),
        until=in_utc(body.until, "until"),
        limit=10000,
    )
    report = await replay_all(request.app.state.temporal, request.app.state.settings, store, found)
    return ReplayCounts(matched=report.matched, replayed=report.replayed, skipped=report.skipped)
