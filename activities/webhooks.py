"""Webhook activities: one signed attempt at a time, and the outbox relay that starts deliveries."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities import metrics
from domain.delivery_flow import AttemptOutcome, AttemptRequest, DeliveryDone
from domain.webhooks import DISABLE_AFTER, RESPONSE_LIMIT, retry_after_seconds, signature_header
from infra.delivery_start import start_delivery
from infra.settings import Settings
from infra.ssrf import allowed_hosts, endpoint_problem
from store.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from store.webhooks import WebhookStore, delivery_input, is_claim

FIRST_ATTEMPTS_AT_ONCE = 10
"""First attempts one relay makes at a time to one endpoint (each within `webhook_timeout_s`)."""
CLAIM_GRACE_S = 60
"""Past `webhook_timeout_s` and this, a claimed first attempt with no outcome is a relay that stopped."""
NO_OUTCOME = "no outcome recorded: the worker stopped during the attempt"
TOKEN_LIMIT = 64 * 1024
"""The most of a customer's token answer read: a token and its lifetime are a few hundred bytes."""


log = logging.getLogger(__name__)


class EventRelay:
    """After an activity appends events, dispatch their deliveries (the outbox relay).

    With `webhook_first_attempt_by_relay`, the relay makes a delivery's first attempt itself (claimed
    first, so two relays never both make it) and starts its workflow only when that attempt failed;
    otherwise, or for an endpoint already failing, it starts the workflow, which makes every attempt.
    Each event is dispatched by a task of its own, and first attempts queue per endpoint, so a slow
    receiver holds up only its own endpoint's deliveries, never another event's or tenant's.
    Safe to repeat: delivery rows are unique per (event, endpoint), an attempt is logged once and
    each workflow id starts once.
    """

    def __init__(self, settings: Settings, store: WebhookStore) -> None:
        self._settings = settings
        self._store = store
        self.attempts: WebhookActivities | None = None
        """Set by the worker's WebhookActivities when the relay makes first attempts."""
        self._kicked = False
        self._kicked_relay: asyncio.Task[None] | None = None
        self._in_flight: set[int] = set()
        self._tasks: set[asyncio.Task[int]] = set()
        self._gates: dict[str, asyncio.Semaphore] = {}

    async def relay(self, tenant: str, client: Client | None = None) -> int:
        """Dispatch the deliveries of the tenant's undispatched events (the activity's client by
        default) and wait for them; returns the delivery workflows started. An event stays
        undispatched, for a later relay, while another relay makes one of its first attempts or when a
        step failed (logged)."""
        tasks = await self._launch(tenant, await self._store.undispatched(tenant), client)
        return sum(await asyncio.gather(*tasks))

    async def _launch(
        self, tenant: str, events: list[Event], client: Client | None
    ) -> list[asyncio.Task[int]]:
        """Start dispatching the events this relay is not dispatching already, a task each; events
        with no delivery are marked at once."""
        events = [e for e in events if e.id is not None and e.id not in self._in_flight]
        if not events:
            return []
        endpoints = {e.id: e for e in await self._store.endpoints(tenant)}
        client = client or activity.client()
        nothing: list[int] = []
        tasks = []
        for event in events:
            assert event.id is not None
            deliveries = await self._store.ensure_deliveries(event, list(endpoints.values()))
            if not deliveries:
                nothing.append(event.id)
                continue
            self._in_flight.add(event.id)
            task = asyncio.create_task(self._dispatch_event(client, event, deliveries, endpoints))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            tasks.append(task)
        await self._store.mark_dispatched(nothing)
        return tasks

    async def _dispatch_event(
        self, client: Client, event: Event, deliveries: list[Delivery], endpoints: dict[str, WebhookEndpoint]
    ) -> int:
        """Dispatch one event's deliveries; marked dispatched once each needs nothing more from a relay."""
        assert event.id is not None
        try:
            results = await asyncio.gather(
                *(self._dispatch(client, event, d, endpoints.get(d.endpoint_id)) for d in deliveries),
                return_exceptions=True,
            )
            if failed := [r for r in results if isinstance(r, BaseException)]:
                raise failed[0]
            if None not in results:
                await self._store.mark_dispatched([event.id])
            return sum(r is True for r in results)
        except Exception as err:  # the database or Temporal is down: the sweep dispatches it again
            log.warning("dispatching event %s failed: %s: %s", event.id, type(err).__name__, err)
            return 0
        finally:
            self._in_flight.discard(event.id)

    async def _dispatch(
        self, client: Client, event: Event, delivery: Delivery, endpoint: WebhookEndpoint | None
    ) -> bool | None:
        """True when the delivery's workflow started; False when it needs none (made at once, or
        started or ended before); None when another relay is making its first attempt, or it failed."""
        if delivery.status != "pending":
            return False
        first = self.attempts
        if first is None or delivery.series != 1 or endpoint is None:
            return await start_delivery(client, self._settings, delivery_input(delivery))
        async with self._gates.setdefault(endpoint.id, asyncio.Semaphore(FIRST_ATTEMPTS_AT_ONCE)):
            if endpoint.failing_since is not None:  # failing (as read, or since this pass saw it fail)
                return await start_delivery(client, self._settings, delivery_input(delivery))
            try:
                outcome = await first.first_attempt(delivery, endpoint, event, client)
            except Exception:
                log.exception("first attempt of delivery %s failed; a later relay makes it", delivery.id)
                return None
            if outcome is not None and outcome.result == "failed":
                endpoint.failing_since = endpoint.failing_since or datetime.now(UTC)
        if outcome is None:
            return None
        if outcome.result == "failed":
            return await start_delivery(client, self._settings, delivery_input(delivery, outcome))
        return False  # ended by its first attempt

    def kick(self, client: Client | None = None) -> None:
        """Relay soon, after the calling activity has answered, so no answer waits for deliveries to
        start. Coalesced: one relay runs at a time, and runs again if kicked meanwhile; what a crash
        leaves undispatched, the sweep relays."""
        self._kicked = True
        if self._kicked_relay is None or self._kicked_relay.done():
            self._kicked_relay = asyncio.create_task(self._relay_kicked(client or activity.client()))

    async def settled(self) -> None:
        """Wait until no kicked relay runs and no event is being dispatched (what a kick started,
        and what it kicked in turn)."""
        while (self._kicked_relay is not None and not self._kicked_relay.done()) or self._tasks:
            if self._kicked_relay is not None and not self._kicked_relay.done():
                await self._kicked_relay
            await asyncio.gather(*self._tasks)

    async def _relay_kicked(self, client: Client) -> None:
        while self._kicked:
            self._kicked = False
            await self._relay_older_than(client, datetime.now(UTC))

    async def sweep(self, client: Client, every_s: float) -> None:
        """Relay, every `every_s` seconds, events older than that which no writer relayed (a worker that
        died between its commit and its relay); runs for the worker's life."""
        while True:
            await asyncio.sleep(every_s)
            await self._relay_older_than(client, datetime.now(UTC) - timedelta(seconds=every_s))

    async def _relay_older_than(self, client: Client, cutoff: datetime) -> None:
        try:
            by_tenant: dict[str, list[Event]] = {}
            for event in await self._store.undispatched(None, before=cutoff):
                by_tenant.setdefault(event.tenant, []).append(event)
            for tenant, events in by_tenant.items():
                await self._launch(tenant, events, client)
        except Exception as err:  # the database or Temporal is down: the sweep tries again
            log.warning("event relay failed: %s: %s", type(err).__name__, err)


@dataclass
class _Token:
    value: str
    expires: float


class WebhookActivities:
    """Calls customer URLs through `http`, the egress client (`infra.egress`): it connects only to
    addresses the SSRF rules allow and follows no redirect. Makes the relay's first attempts too,
    when `webhook_first_attempt_by_relay` is on."""

    def __init__(
        self, settings: Settings, http: httpx.AsyncClient, store: WebhookStore, relay: EventRelay
    ) -> None:
        self._settings = settings
        self._http = http
        self._store = store
        self._relay = relay
        self._tokens: dict[str, _Token] = {}
        self._token_locks: dict[str, asyncio.Lock] = {}
        if settings.webhook_first_attempt_by_relay:
            relay.attempts = self

    @activity.defn
    async def attempt(self, request: AttemptRequest) -> AttemptOutcome:
        """One signed POST, logged once; a retried activity answers with the logged outcome."""
        logged = await self._store.attempt(request.delivery_id, request.series, request.number)
        if logged is None:
            return await self._make(request, activity.client())
        outcome = await self._found(request, logged)
        if outcome is None:  # the relay claimed it (the endpoint was not failing when it read it)
            raise ApplicationError(
                f"attempt {request.number} is being made by the outbox relay since {logged.at.isoformat()};"
                " asked again until its outcome is logged",
                type="AttemptInProgress",
            )
        return outcome

    async def first_attempt(
        self, delivery: Delivery, endpoint: WebhookEndpoint, event: Event, client: Client
    ) -> AttemptOutcome | None:
        """The relay's attempt 1 of a delivery's first series, claimed before it is made: its outcome
        (logged, and the delivery ended with it unless it failed), or None while another relay makes
        it. A claim older than an attempt can last is a relay that stopped during it: logged as failed
        with no outcome, and the workflow goes on."""
        assert delivery.id is not None
        request = AttemptRequest(delivery_id=delivery.id, series=1, number=1, at=datetime.now(UTC))
        held = await self._store.claim_attempt(delivery.id, 1, 1, request.at)
        if held is None:
            return await self._make(request, client, claimed=True, known=(endpoint, event))
        outcome = await self._found(request, held)
        if outcome is not None and (ends := _ends(outcome)) is not None:
            # logged by a relay that stopped before it ended the delivery (ending it again is a no-op)
            await self.finish(DeliveryDone(delivery_id=delivery.id, series=1, status=ends), client)
        return outcome

    async def _found(self, request: AttemptRequest, held: DeliveryAttempt) -> AttemptOutcome | None:
        """The outcome of an attempt whose row is there already: as logged; for a claim older than an
        attempt can last (a relay that stopped during it), a failure with no outcome, logged into the
        claim; None for a claim whose relay may still be making the attempt."""
        if not is_claim(held):
            return _logged_outcome(held)
        if request.at - held.at < timedelta(seconds=self._settings.webhook_timeout_s + CLAIM_GRACE_S):
            return None
        row = _row(request, AttemptOutcome(result="failed", error=NO_OUTCOME), None, None)
        return _logged_outcome(await self._store.record_attempt(row, claimed=True))

    async def _make(
        self,
        request: AttemptRequest,
        client: Client,
        *,
        claimed: bool = False,
        known: tuple[WebhookEndpoint, Event] | None = None,
    ) -> AttemptOutcome:
        """Make the attempt and log it; `claimed`: the relay's, logged into its claim and ending the
        delivery in the same transaction unless it failed; `known`: its endpoint and event as read."""
        endpoint, event = known or await self._rows(request.delivery_id)
        if not endpoint.enabled:
            outcome = AttemptOutcome(
                result="disabled", error=f"endpoint disabled: {endpoint.disabled_reason}"
            )
            await self._log(request, outcome, None, None, client, claimed=claimed)
            metrics.delivery_attempt(client, outcome.result, None)
            return outcome
        started = time.monotonic()
        body = None
        try:
            async with asyncio.timeout(self._settings.webhook_timeout_s):  # token fetch included
                response, raw = await self._send(endpoint, event, request.at)
            outcome, body = _classify(response), raw.decode(errors="replace")
        except TimeoutError:
            deadline = self._settings.webhook_timeout_s
            outcome = AttemptOutcome(result="failed", error=f"no complete answer within {deadline:g} s")
        except (httpx.HTTPError, BlockedUrl, OAuthFailure) as err:
            outcome = AttemptOutcome(result="failed", error=f"{type(err).__name__}: {err}"[:500])
        elapsed = time.monotonic() - started
        outcome = await self._account(endpoint, outcome, request.at, client)  # logged as it ends
        await self._log(request, outcome, int(elapsed * 1000), body, client, claimed=claimed)
        metrics.delivery_attempt(client, outcome.result, elapsed)
        return outcome

    async def _rows(self, delivery_id: int) -> tuple[WebhookEndpoint, Event]:
        delivery = await self._store.delivery(delivery_id)
        assert delivery is not None
        endpoint = await self._store.endpoint(delivery.endpoint_id)
        event = await self._store.event(delivery.event_id)
        assert endpoint is not None and event is not None
        return endpoint, event

    async def _check(self, url: str) -> None:
        """The SSRF rules again at each attempt (the client checks the address it connects to, too)."""
        problem = await endpoint_problem(url, allowed_hosts(self._settings.webhook_allow_hosts))
        if problem is not None:
            raise BlockedUrl(problem)

    async def _send(
        self, endpoint: WebhookEndpoint, event: Event, at: datetime
    ) -> tuple[httpx.Response, bytes]:
        await self._check(endpoint.url)
        body = json.dumps(
            {
                "id": f"_{event.id}",
                "type": event.type,
                "timestamp": event.created_at.isoformat(),
                "data": json.loads(event.payload),
            }
        ).encode()
        assert event.id is not None
        timestamp = int(time.time())  # receivers check it against their clock (±5 min), so real time
        headers = {
            "content-type": "application/json",
            "user-agent": "payflow-webhooks/1",
            "webhook-id": event.webhook_id,  # stored with the event: one per event, unique everywhere
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(
                event.webhook_id, timestamp, body, await self._store.signing_secrets(endpoint.id, at)
            ),
        }
        if endpoint.oauth_token_url:
            headers["authorization"] = f"Bearer {await self._token(endpoint)}"
        return await self._post(endpoint.url, RESPONSE_LIMIT, content=body, headers=headers)

    async def _post(self, url: str, limit: int, **request: Any) -> tuple[httpx.Response, bytes]:
        """POST, and read at most `limit` bytes of the answer: the rest is neither read nor buffered
        (the connection is closed) and nothing is decompressed, so a receiver cannot fill the worker's
        memory; the caller's deadline bounds the time."""
        headers = request.pop("headers", {}) | {"accept-encoding": "identity"}
        timeout = self._settings.webhook_timeout_s
        async with self._http.stream("POST", url, headers=headers, timeout=timeout, **request) as response:
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += chunk[: limit - len(body)]
                if len(body) >= limit:
                    break
            return response, bytes(body)

    async def _token(self, endpoint: WebhookEndpoint) -> str:
        """The customer's token for its endpoint (client credentials), cached until it expires;
        concurrent deliveries wait for one fetch rather than each fetching its own."""
        async with self._token_locks.setdefault(endpoint.id, asyncio.Lock()):
            return await self._fetch_token(endpoint)

    async def _fetch_token(self, endpoint: WebhookEndpoint) -> str:
        cached = self._tokens.get(endpoint.id)
        if cached is not None and cached.expires > time.monotonic() + 30:
            return cached.value
        await self._check(endpoint.oauth_token_url or "")
        data = {"grant_type": "client_credentials"} | (
            {"scope": endpoint.oauth_scope} if endpoint.oauth_scope else {}
        )
        response, body = await self._post(
            endpoint.oauth_token_url or "",
            TOKEN_LIMIT,
            data=data,
            auth=(endpoint.oauth_client_id or "", endpoint.oauth_client_secret or ""),
        )
        if response.status_code != 200 or b"access_token" not in body:
            raise OAuthFailure(f"token endpoint answered {response.status_code}")
        try:
            token = json.loads(body)
            cached = _Token(
                str(token["access_token"]), time.monotonic() + float(token.get("expires_in", 300))
            )
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise OAuthFailure(f"token endpoint answered no token within {TOKEN_LIMIT} bytes") from err
        self._tokens[endpoint.id] = cached
        return cached.value

    async def _log(
        self,
        request: AttemptRequest,
        outcome: AttemptOutcome,
        latency: int | None,
        body: str | None,
        client: Client,
        *,
        claimed: bool = False,
    ) -> None:
        ends = _ends(outcome) if claimed else None
        await self._store.record_attempt(_row(request, outcome, latency, body), claimed=claimed, ends=ends)
        if ends is not None:
            metrics.delivery_finished(client, ends)

    async def _account(
        self, endpoint: WebhookEndpoint, outcome: AttemptOutcome, at: datetime, client: Client
    ) -> AttemptOutcome:
        """Endpoint health: 410 disables at once; five days of nothing but failures disable too. A
        success at an endpoint that was not failing when read writes nothing (a failure racing it is
        cleared by the next success)."""
        ok = outcome.result == "succeeded"
        if ok and endpoint.failing_since is None:
            return outcome
        failing_since = await self._store.note_outcome(endpoint.id, ok, at)
        reason = None
        if outcome.result == "gone":
            reason = "the endpoint answered 410 Gone"
        elif failing_since is not None and at - failing_since >= DISABLE_AFTER:
            reason = f"every attempt failed since {failing_since.isoformat()}"
            outcome = outcome.model_copy(update={"result": "disabled"})
        if reason is not None and await self._store.disable(endpoint.id, reason, at):
            self._relay.kick(client)  # endpoint.disabled to the tenant's other endpoints
        return outcome

    @activity.defn
    async def finish_delivery(self, done: DeliveryDone) -> None:
        await self.finish(done, activity.client())

    async def finish(self, done: DeliveryDone, client: Client) -> None:
        await self._store.finish(done.delivery_id, done.series, done.status)
        metrics.delivery_finished(client, done.status)


class BlockedUrl(Exception):
    pass


class OAuthFailure(Exception):
    pass


def _ends(outcome: AttemptOutcome) -> str | None:
    """How a first attempt by the relay ends its delivery: None when it failed (the workflow goes on)."""
    if outcome.result == "failed":
        return None
    return "succeeded" if outcome.result == "succeeded" else "failed"  # gone, disabled


def _row(
    request: AttemptRequest, outcome: AttemptOutcome, latency: int | None, body: str | None
) -> DeliveryAttempt:
    return DeliveryAttempt(
        delivery_id=request.delivery_id,
        series=request.series,
        number=request.number,
        at=request.at,
        status_code=outcome.status_code,
        latency_ms=latency,
        error=outcome.error,
        response_body=body,
        result=outcome.result,
        retry_after=outcome.retry_after,
    )


def _logged_outcome(logged: DeliveryAttempt) -> AttemptOutcome:
    """The outcome an attempt's first run logged (read from its status when logged before `result`;
    a claim whose relay stopped during the attempt is a failure with no known outcome)."""
    if is_claim(logged):
        return AttemptOutcome(result="failed", error=NO_OUTCOME)
    if logged.result is None:
        return _outcome(logged.status_code, logged.error)
    return AttemptOutcome(
        result=logged.result,
        status_code=logged.status_code,
        retry_after=logged.retry_after,
        error=logged.error,
    )


def _outcome(code: int | None, error: str | None, retry_after: float | None = None) -> AttemptOutcome:
    """What a receiver's status means: 2xx delivered, 410 gone for good, anything else a failure."""
    if code is not None and 200 <= code < 300:
        return AttemptOutcome(result="succeeded", status_code=code)
    return AttemptOutcome(
        result="gone" if code == 410 else "failed", status_code=code, retry_after=retry_after, error=error
    )


def _classify(response: httpx.Response) -> AttemptOutcome:
    code = response.status_code
    retry_after = retry_after_seconds(response.headers.get("retry-after")) if code in (429, 503) else None
    error = f"HTTP {code}"
    if response.is_redirect:
        error += f": redirect to {response.headers['location'][:300]} not followed"
    return _outcome(code, error, retry_after)
