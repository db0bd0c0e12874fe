"""`payflow temporal check`: what an operator needs to know before pointing payflow at a Temporal
server: that payflow can connect with its settings (TLS, mTLS, API key), which server it reached, that
the namespace exists, and that every search attribute the workflows upsert is registered with its type
(an unregistered one fails each workflow task that sets it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, GetSystemInfoRequest
from temporalio.service import RPCError, RPCStatusCode

from infra.settings import Settings
from infra.temporal import connect
from infra.temporal_access import TemporalConnectError, tls_enabled
from workflows import search_attributes


@dataclass
class ClusterReport:
    address: str
    security: str
    server_version: str
    namespace: str
    retention_days: float
    present: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """`Name (Type)` of each attribute payflow needs that the namespace lacks or holds with another type."""

    @property
    def problem(self) -> str | None:
        if not self.missing:
            return None
        return (
            f"namespace {self.namespace} lacks search attributes payflow needs: {', '.join(self.missing)}; "
            "run `payflow temporal setup` (Temporal Cloud: add them to the namespace in its UI or tcld)"
        )


def _security(settings: Settings) -> str:
    if not tls_enabled(settings):
        return "plaintext"
    parts = ["mTLS" if settings.temporal_tls_cert_path else "TLS"]
    return " + ".join(parts + (["API key"] if settings.temporal_api_key else []))


async def check_cluster(settings: Settings) -> ClusterReport:
    """Connect and inspect; raises `TemporalConnectError` with one line when the server cannot be used."""
    client = await connect(settings)
    namespace = settings.temporal_namespace
    try:
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise TemporalConnectError(
                f"namespace {namespace} does not exist at {settings.temporal_address} "
                "(PAYFLOW_TEMPORAL_NAMESPACE)"
            ) from None
        raise TemporalConnectError(f"{settings.temporal_address} refused {exc.message}") from None
    report = ClusterReport(
        address=settings.temporal_address,
        security=_security(settings),
        server_version=info.server_version,
        namespace=described.namespace_info.name,
        retention_days=described.config.workflow_execution_retention_ttl.ToTimedelta().total_seconds()
        / 86400,
    )
    for key in search_attributes.ALL:
        wanted = IndexedValueType.ValueType(int(key.indexed_value_type))
        if listed.custom_attributes.get(key.name) == wanted:
            report.present.append(key.name)
        else:  # INDEXED_VALUE_TYPE_KEYWORD_LIST -> KeywordList, as the temporal CLI names it
            kind = IndexedValueType.Name(wanted).removeprefix("INDEXED_VALUE_TYPE_").title().replace("_", "")
            report.missing.append(f"{key.name} ({kind})")
    return report
