"""`payflow api`: uvicorn serving the app factory (`api.app:app_from_env`), in one process or N on one port.

For N processes uvicorn binds the listener itself and leaves its protocol number at 0; accepted sockets
inherit it, and asyncio turns TCP_NODELAY on only for IPPROTO_TCP sockets, so every keep-alive request
after the first waited ~40 ms for the client's delayed ACK (uvicorn issue #3149; /healthz fell from
2,700 to 450 req/s here with two processes). The listener is relabelled IPPROTO_TCP below.
"""

from __future__ import annotations

import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

APP = "api.app:app_from_env"


class _Config(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto == 0:
            return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        return sock


def serve(host: str, port: int, workers: int, log_level: str) -> None:
    """Serve until SIGINT or SIGTERM; N > 1 processes share the port (the kernel spreads connections).
    uvicorn's loggers go through the process' own logging (`infra.logs`, no `log_config`), and its
    access log stays off: the app writes the request line itself, with the route template and tenant."""
    if workers == 1:
        uvicorn.run(
            APP, factory=True, host=host, port=port, log_level=log_level, log_config=None, access_log=False
        )
        return
    config = _Config(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        log_config=None,
        access_log=False,
    )
    Multiprocess(config, sockets=[config.bind_socket()]).run()
