"""uvicorn's HTTP protocol with ``TCP_NODELAY`` on every connection.

asyncio turns Nagle's algorithm off only for sockets whose ``proto`` is ``IPPROTO_TCP``. With
``--workers N`` uvicorn binds the listening socket itself with ``proto`` 0, so the accepted
connections kept Nagle on: a response written as headers then body waited for the client's
delayed ACK, and every keep-alive request after the first took ~44 ms instead of ~1 ms.
Setting the option per connection makes one and many workers behave the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

try:  # uvicorn's fast protocol when httptools is installed (it is a dependency of llmtrail)
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # pragma: no cover - pure-Python fallback
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base  # type: ignore[assignment]


class NoDelayHTTPProtocol(_Base):
    """uvicorn's HTTP/1.1 protocol, with Nagle's algorithm off on its connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)


def set_nodelay(transport: Any) -> None:
    """Turn Nagle's algorithm off on a TCP transport (no-op for other sockets)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
