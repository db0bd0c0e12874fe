"""How payflow reaches a Temporal server from its settings (TLS, mTLS, API key), and what a refused
connection means in one line an operator can act on: the SDK reports a failed connection as a dump of
the Rust transport's error chain, which names the cause (an untrusted certificate, a TLS alert, an HTTP
status) without saying which setting to fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.service import TLSConfig

from infra.settings import Settings


class TemporalConnectError(RuntimeError):
    """A connection that could not be made, explained. A RuntimeError like the SDK's own, so callers
    that wait for a server to come up (`payflow dev`) keep catching it."""


def connect_options(settings: Settings) -> dict[str, Any]:
    """The `Client.connect` arguments for TLS and the API key. TLS is passed explicitly even when off:
    the SDK turns it on by itself whenever an API key is given."""
    return {"tls": _tls(settings), "api_key": settings.temporal_api_key or None}


def tls_enabled(settings: Settings) -> bool:
    """PAYFLOW_TEMPORAL_TLS when set, else on as soon as anything TLS-like or an API key is set."""
    if settings.temporal_tls is not None:
        return settings.temporal_tls
    return bool(_tls_tuned(settings) or settings.temporal_api_key)


def _tls_tuned(settings: Settings) -> bool:
    return bool(
        settings.temporal_tls_ca_path or settings.temporal_tls_cert_path or settings.temporal_tls_server_name
    )


def _tls(settings: Settings) -> bool | TLSConfig:
    cert, key = settings.temporal_tls_cert_path, settings.temporal_tls_key_path
    if (cert is None) != (key is None):
        raise TemporalConnectError(
            "PAYFLOW_TEMPORAL_TLS_CERT_PATH and PAYFLOW_TEMPORAL_TLS_KEY_PATH go together: set both or none"
        )
    if not tls_enabled(settings):
        if _tls_tuned(settings):
            raise TemporalConnectError("PAYFLOW_TEMPORAL_TLS is false but TLS files or a server name are set")
        return False
    if not _tls_tuned(settings):
        return True  # the system's trusted CAs (Temporal Cloud with an API key)
    return TLSConfig(
        server_root_ca_cert=_read(settings.temporal_tls_ca_path, "PAYFLOW_TEMPORAL_TLS_CA_PATH"),
        domain=settings.temporal_tls_server_name or None,
        client_cert=_read(cert, "PAYFLOW_TEMPORAL_TLS_CERT_PATH"),
        client_private_key=_read(key, "PAYFLOW_TEMPORAL_TLS_KEY_PATH"),
    )


def _read(path: Path | None, setting: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TemporalConnectError(f"cannot read {setting} {path}: {exc.strerror}") from None


_CAUSES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    # (when: "" always, "cert" with a client certificate, "tls"/"plain" with TLS on/off; needles; message)
    ("", ("connectionrefused",), "nothing accepts connections at {addr} (connection refused): {where}"),
    ("", ("dnserror", "failedtolookupaddress"), "cannot resolve the host of {addr}: {where}"),
    ("", ("unknownissuer",), "the certificate of {addr} is not signed by a CA in {ca}: wrong CA ({ca_env})"),
    ("", ("notvalidforname",), "the certificate of {addr} does not carry the name dialled: {name_env}"),
    ("", ("invalidcertificate(expired",), "the certificate of {addr} has expired"),
    ("", ("certificateexpired",), "{addr} refused the client certificate {cert}: it has expired"),
    ("", ("certificaterequired",), "{addr} requires a client certificate (mTLS): {cert_env}"),
    (
        "cert",
        ("unknownca", "badcertificate", "certificateunknown", "decrypterror", "connectionclosed"),
        "{addr} refused the client certificate {cert}: not signed by a CA it trusts, or revoked",
    ),
    (
        "",
        ("401unauthorized", "unauthenticated", "permissiondenied", "403forbidden"),
        "{addr} refused the call: the API key (PAYFLOW_TEMPORAL_API_KEY) {key}",
    ),
    (
        "tls",
        ("invalidcontenttype", "corruptmessage", "wrongversionnumber"),
        "{addr} does not speak TLS: unset the PAYFLOW_TEMPORAL_TLS* settings or use its TLS port",
    ),
    (
        "plain",
        ("brokenpipe", "connectionreset", "connectionclosed"),
        "{addr} closed the connection: it probably requires TLS (PAYFLOW_TEMPORAL_TLS=true or a CA file)",
    ),
)


def explain(settings: Settings, error: Exception) -> str:
    """One line saying what is wrong with the connection to `settings.temporal_address`, from the SDK's
    error text (rustls' certificate errors and TLS alerts, tonic's transport errors and HTTP statuses)."""
    text = str(error)
    squashed = text.lower().replace(" ", "")
    tls_on = tls_enabled(settings)
    applies = {
        "": True,
        "cert": settings.temporal_tls_cert_path is not None,
        "tls": tls_on,
        "plain": not tls_on,
    }
    facts = {
        "addr": settings.temporal_address,
        "where": "is Temporal there? (PAYFLOW_TEMPORAL_ADDRESS)",
        "ca": settings.temporal_tls_ca_path or "this machine's trusted CAs",
        "ca_env": "PAYFLOW_TEMPORAL_TLS_CA_PATH",
        "name_env": "set PAYFLOW_TEMPORAL_TLS_SERVER_NAME to a name it carries",
        "cert": settings.temporal_tls_cert_path,
        "cert_env": "set PAYFLOW_TEMPORAL_TLS_CERT_PATH and PAYFLOW_TEMPORAL_TLS_KEY_PATH",
        "key": "was refused" if settings.temporal_api_key else "is missing",
    }
    for when, needles, message in _CAUSES:
        if applies[when] and any(n in squashed for n in needles):
            return message.format(**facts)
    detail = text.splitlines()[0][:300] if text else type(error).__name__
    return f"cannot connect to Temporal at {settings.temporal_address}: {detail}"
