"""Runtime settings (env prefix PAYFLOW_): one object, read once per process."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.intent import CNMode, GatewayProtocol, IntentOptions
from domain.money import FeePolicy, RoundingMode
from domain.pool import TopUpInput
from domain.registry import FamilyComposition
from domain.webhooks import TIMEOUT_S


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYFLOW_", extra="ignore", use_attribute_docstrings=True)

    database_url: str = "sqlite+aiosqlite:///.payflow/payflow.db"
    """The store: `sqlite+aiosqlite:///FILE` (one machine) or `postgresql+asyncpg://USER@HOST/DB`
    (several API replicas)."""
    temporal_address: str = "127.0.0.1:7233"
    """The Temporal frontend, `host:port` (Temporal Cloud: `<namespace>.<account>.tmprl.cloud:7233`)."""
    temporal_namespace: str = "default"
    """The namespace every workflow, schedule and search attribute of this deployment lives in."""
    temporal_tls: bool | None = None
    """TLS to Temporal. Unset: on when a CA file, a client certificate or an API key is set; true: on,
    verifying the server against the system's CAs unless TEMPORAL_TLS_CA_PATH; false: off."""
    temporal_tls_ca_path: Path | None = None
    """PEM CA(s) the Temporal server's certificate must chain to (a self-hosted cluster's own CA)."""
    temporal_tls_server_name: str = ""
    """The name the server's certificate is checked against and sent as SNI, when the address is not it
    (an IP address, a load balancer, a private endpoint)."""
    temporal_tls_cert_path: Path | None = None
    """PEM client certificate for mTLS (Temporal Cloud's certificate auth, clusters requiring clients'
    certificates); with TEMPORAL_TLS_KEY_PATH."""
    temporal_tls_key_path: Path | None = None
    """PEM private key of TEMPORAL_TLS_CERT_PATH."""
    temporal_api_key: str = ""
    """Temporal Cloud API key, sent as `authorization: Bearer <key>` on every call (TLS on by default)."""
    task_queue: str = "payflow"
    """The task queue workers poll and the API and schedules start workflows on."""

    api_url: str = "http://127.0.0.1:8000"
    """payflow's public base URL: the gateway's callbacks and client assertions' audience
    (`/connect/token`) use it; behind a proxy, the proxy's."""
    gateway_url: str = "http://127.0.0.1:8100"
    """The payment gateway's base URL (GePG's in `gepg` mode)."""
    sms_url: str = "http://127.0.0.1:8200"
    """The SMS provider's base URL (`POST /messages`)."""
    sms_resend_s: float = 60.0
    """How often the resend sweep looks for failed SMS notices whose backoff is over."""
    sms_resend_backoff_s: float = 60.0
    """A failed SMS notice's first wait before the sweep sends it again, doubling per resend up to an
    hour. Longer than a notice's own retries wait between attempts (at most a minute), so the sweep does
    not take a notice its workflow still tries."""
    outbound_timeout_s: float = 10.0
    """Timeout of each outbound HTTP call (gateway, SMS)."""

    cn_mode: CNMode = CNMode.GATEWAY
    """Where control numbers come from: `gateway` (the gateway issues them), `internal` (ISO 7064
    check digits), `pool` (numbers drawn ahead in bulk)."""
    gateway_protocol: GatewayProtocol = GatewayProtocol.JSON
    """`json` (payflow's simulator protocol) or `gepg` (GePG's signed XML): taken by each intent
    at its start and kept to its end."""
    gepg_sp_code: str = "SP001"
    """GePG service-provider code (openIMIS: the product's AccCodePremiums), sent as `Gepg-Code`; a GePG
    callback carrying another SpCode is refused (7242)."""
    gepg_sub_sp_code: str = "1001"
    """GePG sub-service-provider code of every bill."""
    gepg_system_id: str = "TIMIS001"
    """GePG system id of every bill (`SpSysId`)."""
    gepg_gfs_code: str = "140101"
    """GFS revenue code of every bill item (openIMIS GfsCode:0)."""
    gepg_key_path: Path | None = None
    """Our PKCS#12 file (key and certificate) that signs every GePG message; required in gepg mode."""
    gepg_key_password: str = ""
    """Password of GEPG_KEY_PATH."""
    gepg_certificate_path: Path | None = None
    """GePG's public certificate (PEM or DER) that verifies its messages; required in gepg mode."""
    gepg_tenant: str = ""
    """The tenant GePG's callbacks act for: a message signed by the certificate above, for our SpCode,
    is this tenant's (GePG sends no token); the API takes GePG's XML only once it is set."""
    cn_length: int = 12
    """Total length of an internally generated control number, check digits included."""
    cn_wait_s: float = 5.0
    """How long GetControlNumber waits for the control number before answering without it."""
    cn_callback_timeout_s: int = 3600
    """How long a posted bill may wait for the gateway's control number before the intent fails (-2)."""
    bill_expiry_days: int = 30
    """Days an unpaid bill stays open before it is cancelled at the gateway (status 0)."""
    events_hold_s: float = 25.0
    """How long an Events API long-poll holds when there is nothing new."""
    events_retention_days: int = 90
    """Days the Events API keeps an event."""
    webhook_allow_hosts: str = ""
    """Hosts that may receive webhooks over http or on private addresses (comma-separated)."""
    webhook_schedule: str = "0,5,300,1800,7200,18000,36000,36000"
    """Seconds before each delivery attempt."""
    webhook_timeout_s: float = TIMEOUT_S
    """The whole of a webhook attempt (connect, send, answer): past it the attempt fails, however slowly
    the receiver keeps answering."""
    webhook_first_attempt_by_relay: bool = True
    """The outbox relay makes each delivery's first attempt itself (to an endpoint not failing) and
    starts a delivery workflow only when it failed: a delivery that succeeds at once has its attempt
    logged and no workflow. Off: every delivery is a workflow from its first attempt."""
    relay_sweep_s: float = 5.0
    """How often the worker relays events that no writer relayed (it died between commit and relay)."""
    update_timeout_s: float = 20.0
    """How long the API waits for a workflow to answer an update before it answers 503."""
    outage_retry_after_s: int = 5
    """The Retry-After of a 503 for an outage (Temporal or the database unreachable, api/errors.py)."""
    max_inflight_starts: int = 8
    """Workflow starts one API process admits at once (GetControlNumber, payment intents, payments
    without an intent, cases); beyond it, 503 with Retry-After at once (api/admission.py). Sized by
    Little's law for one 2-core machine: in flight = throughput x wait; the stack sustains about 10
    starts/s there at 70 ms each (under one in flight), so 8 admits bursts yet bounds the queue to
    under a second at its ~13/s ceiling. With 16, an overload at 20 req/s held some answers 4 s; with 8,
    199 of 200 within 2 s (bench/README.md). Per API process: with `payflow api --workers N`, divide
    the machine's figure by N."""
    start_timeout_s: float = 5.0
    """How long a start waits for its worker beyond the control-number wait (at most UPDATE_TIMEOUT_S)
    before it answers with the intent as known so far (no control number yet)."""

    worker_max_activities: int = 20
    """Activities a worker runs at once (gateway, SMS, webhook calls and long store steps)."""
    worker_max_local_activities: int = 20
    """Short store steps a worker runs at once inside workflow tasks."""
    worker_max_workflow_tasks: int = 20
    """Workflow tasks a worker runs at once."""
    worker_sticky_timeout_s: float = 10.0
    """How long a workflow's next task waits for the worker that has it cached before any worker may
    take it: after a worker crash, its workflows resume this much later (Temporal's default, 10 s)."""
    db_pool_timeout_s: float = 10.0
    """How long a store call waits for a pooled connection; shorter than every activity timeout, so a
    step short of connections fails and retries instead of timing out in the queue."""

    pool_products: str = ""
    """Products whose control-number pool the top-up keeps stocked (comma-separated; empty: all)."""
    pool_minimum: int = 200
    """Free numbers a product's pool keeps: below it, the top-up requests a bulk bill."""
    pool_batch: int = 100
    """Numbers per bulk request (the top-up requests whole batches up to the minimum)."""
    pool_check_s: int = 300
    """How often the `payflow-pool-topup` schedule checks the pools."""
    pool_officer_max: int = 10
    """Unused pool numbers an enrolment officer may hold, whatever his app asks for (openIMIS
    `PaymentGateWay:MaxControlNumberForEO`)."""
    registry_tenant: str = ""
    """The tenant whose clients act for the deployment's enrolment officers: only they reserve pool
    numbers for an officer (GetControlNumbersForEO) and see his phone number. The registry and the
    pool belong to the deployment, not to a tenant; empty: no client may (`payflow dev`: `demo`)."""

    prior_enrolment: bool = False
    """openIMIS `PriorEnrolment`: a payment may come before the policy's enrolment."""
    partial_payments: bool = False
    """Accept a payment below the amount to be paid (openIMIS partial payments)."""
    reminder_days: int = 3
    """Days before a bill expires when the payer gets a reminder SMS."""
    match_retry_hours: int = 24
    """How often a received payment that does not match yet is matched again."""
    not_matched_sms_days: int = 7
    """At most one "not matched" SMS per payment in this many days."""
    age_of_majority: int = 18
    """Age from which an insuree counts as an adult for valuation."""
    timezone: str = "Africa/Dar_es_Salaam"
    """The deployment's time zone: intents are valued on its local date, as payment dates are local."""
    proxy_adults: int = 3
    """Adults of the proxy family: who is valued when a product charges per member and the family
    is not in the registry."""
    proxy_children: int = 2
    """Children of the proxy family."""
    proxy_other_adults: int = 0
    """Other adults (beyond the family's) of the proxy family."""
    proxy_other_children: int = 0
    """Other children of the proxy family."""
    mobile_fee_rate: Decimal = Decimal("0")
    """Mobile-money transfer fee added to the amount to be paid (`0.011` for the CHF build)."""
    to_be_paid_places: int = 2
    """Decimal places of the amount to be paid."""
    rounding: RoundingMode = RoundingMode.HALF_EVEN
    """Rounding of amounts: `half_even` or `half_up`."""
    primary_languages: str = "english,en,primary,0,1"
    """Insuree language values that get SMS in the primary language (English); any other gets Swahili."""

    jwt_private_key_path: Path | None = None
    """PEM RSA key that signs access tokens, shared by every API process; the API refuses to start
    without it (`payflow dev` generates one once under its data dir)."""
    jwt_previous_key_paths: str = ""
    """Earlier signing keys (PEM, private or public; comma-separated): still in the JWKS and still
    verifying the tokens they signed, so a key rotates without downtime. Drop one after TOKEN_TTL_S."""
    jwt_issuer: str = "payflow"
    """The `iss` of issued access tokens (also accepted as a client assertion's audience)."""
    jwt_audience: str = "payflow-api"
    """The `aud` of issued access tokens."""
    token_ttl_s: int = 3600
    """Lifetime of an access token (revoking a client does not end tokens already issued)."""
    token_hash_threads: int = 2
    """Client-secret checks (scrypt, ~40 ms of CPU each) run at once per API process, off its event loop."""
    token_rate_per_client: str = "30/minute"
    """Token requests one client id may make (`limits` notation; per API process, in memory)."""
    token_rate_per_address: str = "300/minute"
    """Token requests one source address may make, whatever client ids it names (per API process)."""

    codec_keys: str = ""
    """Payload encryption keys `id:base64key,…` (32-byte AES-256 keys), newest first: the newest
    encrypts, all decrypt (infra/codec.py). Required by every process that talks to Temporal."""
    codec_keys_path: Path | None = None
    """A file of further `id:base64key` entries (one a line), read after CODEC_KEYS; `payflow dev`
    generates one under its data dir."""
    search_hash_key: str = ""
    """Secret of the keyed hash that stands for insurance numbers in the `InsuranceNumberHashes`
    search attribute (`payflow codec insurance-hash`); required by the API. Never rotated: a new
    secret makes earlier flows unfindable by number."""
    codec_cors_origins: str = "http://localhost:8233,http://127.0.0.1:8233"
    """Browser origins (the Temporal UI) allowed to call /codec/encode and /codec/decode."""
    dev_codec_open_to_ui: bool = False
    """`payflow dev` only: the codec endpoint answers the UI's origins from loopback without a token
    (the dev UI has no OIDC to send one). Refused unless API_URL is a loopback address."""

    log_format: Literal["json", "text"] = "json"
    """Log lines as one JSON object each (for a log pipeline) or as readable text (`payflow dev`)."""
    access_log: bool = True
    """One log line per API request (`payflow api --no-access-log` turns it off)."""
    worker_metrics_address: str = ""
    """`host:port` where a worker serves Prometheus `/metrics` (the Temporal SDK's exporter, payflow's
    counters included); empty: no metrics endpoint."""

    data_dir: Path = Path(".payflow")
    """Where `payflow dev` keeps its files (store, keys, logs, dev.json)."""

    @property
    def worker_db_connections(self) -> int:
        """One connection per activity and local-activity slot, and one for the relay's sweep: no step
        ever waits for a connection another step of the same worker holds."""
        return self.worker_max_activities + self.worker_max_local_activities + 1

    @property
    def jwt_previous_key_path_list(self) -> list[Path]:
        return [Path(p.strip()) for p in self.jwt_previous_key_paths.split(",") if p.strip()]

    @property
    def webhook_schedule_seconds(self) -> list[int]:
        return [int(s) for s in self.webhook_schedule.split(",") if s.strip()]

    @property
    def fee_policy(self) -> FeePolicy:
        return FeePolicy(self.mobile_fee_rate, self.to_be_paid_places, self.rounding)

    @property
    def intent_options(self) -> IntentOptions:
        return IntentOptions(
            cn_mode=self.cn_mode,
            gateway_protocol=self.gateway_protocol,
            cn_callback_timeout_s=self.cn_callback_timeout_s,
            bill_expiry_days=self.bill_expiry_days,
            prior_enrolment=self.prior_enrolment,
            partial_payments=self.partial_payments,
            reminder_days=self.reminder_days,
            match_retry_hours=self.match_retry_hours,
            not_matched_sms_days=self.not_matched_sms_days,
        )

    @property
    def pool_topup(self) -> TopUpInput:
        products = [p.strip() for p in self.pool_products.split(",") if p.strip()]
        return TopUpInput(products=products, minimum=self.pool_minimum, batch=self.pool_batch)

    @property
    def proxy_family(self) -> FamilyComposition:
        return FamilyComposition(
            self.proxy_adults, self.proxy_children, self.proxy_other_adults, self.proxy_other_children
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()


class DevStackNotFound(Exception):
    """No running `payflow dev` to take the settings from; the message says what to do instead."""


def dev_stack_env(data_dir: Path) -> dict[str, str]:
    """The PAYFLOW_* settings of the `payflow dev` running on `data_dir`, read from its dev.json, so an
    operator command in the same directory needs no exports."""
    manifest = data_dir / "dev.json"
    deployment = "or set PAYFLOW_DATABASE_URL (with PAYFLOW_TEMPORAL_ADDRESS, PAYFLOW_CODEC_KEYS_PATH)"
    try:
        stack = json.loads(manifest.read_text())
    except FileNotFoundError:
        raise DevStackNotFound(
            f"no payflow dev found ({manifest} does not exist): start `payflow dev`, pass --data-dir, "
            f"{deployment}"
        ) from None
    except (OSError, ValueError) as exc:
        raise DevStackNotFound(f"cannot read {manifest}: {exc}") from None
    if not _running(stack.get("pid")):
        raise DevStackNotFound(
            f"the payflow dev of {data_dir} is not running (its dev.json names process "
            f"{stack.get('pid')}): start it again with `payflow dev`, {deployment}"
        )
    return {
        "PAYFLOW_DATABASE_URL": stack["database"],
        "PAYFLOW_TEMPORAL_ADDRESS": stack["temporal"],
        "PAYFLOW_CODEC_KEYS_PATH": stack["codec_keys"],
        "PAYFLOW_TASK_QUEUE": stack["task_queue"],
    }


def _running(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
