"""The Temporal connection every process makes: the converter (pydantic, with the payload codec) and
the client built from the PAYFLOW_TEMPORAL_* settings."""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import Runtime

from infra.codec import EncryptionCodec, KeyRing
from infra.settings import Settings
from infra.temporal_access import TemporalConnectError, connect_options, explain


def data_converter(settings: Settings) -> DataConverter:
    """The pydantic converter with the payload encryption codec; failure messages and stack traces go
    into encoded attributes too, since an exception's text can quote personal data. Raises
    `CodecKeyError` without keys: no process talks to Temporal in clear."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(KeyRing.load(settings.codec_keys, settings.codec_keys_path)),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """The process' client, the one place a client is built from the PAYFLOW_TEMPORAL_* settings
    (address, namespace, TLS, mTLS, API key); its workers use its converter and its runtime (the
    default one unless given: a worker passes the one that exports its metrics). Raises
    `TemporalConnectError` with what is wrong in one line."""
    options = connect_options(settings)
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=data_converter(settings),
            runtime=runtime,
            **options,
        )
    except RuntimeError as exc:  # the SDK's "Failed client connect: <transport error chain>"
        raise TemporalConnectError(explain(settings, exc)) from exc
