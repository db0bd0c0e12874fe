"""Which failures are outages: a peer that is down or slow, to retry later, not a refusal to report.

The one place that decides, for Temporal and for the database: `within` (api/workflow_calls.py)
turns a Temporal outage into a 503 at the call, and the app-wide handlers (api/errors.py) answer
503 for whatever outage escapes a route.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

TRANSIENT_RPC = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.ABORTED,
    }
)
"""Server down or unreachable, call timed out or cut, server overloaded: the same call may succeed later.
ABORTED is an update the server dropped from its registry (a workflow task timed out, a shard moved or
reloaded: "workflow update was aborted", to be retried); the history does not have it."""
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # the connection pool had nothing to give in time
    OSError,  # asyncpg's ConnectionRefusedError and friends are not wrapped by SQLAlchemy
)


def temporal_outage(err: BaseException) -> bool:
    """A Temporal call that failed for want of a server (`within` also counts its own timeout)."""
    if isinstance(err, WorkflowUpdateRPCTimeoutOrCancelledError):
        return True
    if isinstance(
        err, RPCError
    ):  # a connection cut mid-call (the server killed) is UNKNOWN "transport error"
        return (
            err.status in TRANSIENT_RPC
            or (err.status is RPCStatusCode.UNKNOWN and "transport" in err.message)
            or _workflow_not_ready(err)
        )
    # A client that never reached its server (lazy connect) raises this from the SDK's core.
    return isinstance(err, RuntimeError) and str(err).startswith("Failed client connect")


def _workflow_not_ready(err: RPCError) -> bool:
    """FAILED_PRECONDITION with a WorkflowNotReadyFailure: the workflow task that carried the update
    failed or timed out ("unexpected workflow task failure"), so the history does not have it; the
    same call succeeds once a task runs again. Other FAILED_PRECONDITIONs stay refusals."""
    if err.status is not RPCStatusCode.FAILED_PRECONDITION:
        return False
    return any(d.type_url.endswith(".WorkflowNotReadyFailure") for d in err.grpc_status.details)


def database_outage(err: BaseException) -> bool:
    if isinstance(err, sa_exc.DBAPIError) and err.connection_invalidated:
        return True
    return isinstance(err, DATABASE_ERRORS)


def cause(err: BaseException) -> str:
    """`Class: message` on one line, for the log."""
    if isinstance(err, RPCError):
        status = err.status.name if err.status is not None else "?"
        return f"RPCError {status}: {err.message}"
    text = " ".join(str(err).split()) or repr(err)
    return f"{type(err).__name__}: {text[:300]}"
