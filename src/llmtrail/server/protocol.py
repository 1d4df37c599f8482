"""uvicorn's HTTP protocol, hardened: ``TCP_NODELAY``, header limits and a header timeout.

``TCP_NODELAY``: asyncio turns Nagle's algorithm off only for sockets whose ``proto`` is
``IPPROTO_TCP``. With ``--workers N`` uvicorn binds the listening socket itself with ``proto``
0, so the accepted connections kept Nagle on: a response written as headers then body waited
for the client's delayed ACK, and every keep-alive request after the first took ~44 ms instead
of ~1 ms. Setting the option per connection makes one and many workers behave the same.

Limits: uvicorn's httptools protocol accepts request heads of any size (a 300 MB header was
buffered whole) and waits forever for a head to end. Here the request line plus headers may
take at most ``max_header_bytes`` (default 64 KiB) and ``max_headers`` fields (100), else the
answer is ``431`` and the connection closes; a head must arrive within ``header_timeout``
seconds (10) of the connection opening or the previous response ending, else ``408``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import Any

import httptools  # a dependency of llmtrail: uvicorn's fast protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from llmtrail.config import Settings

MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 100
HEADER_TIMEOUT = 10.0


class _HeadTooLarge(Exception):
    """Raised from a parser callback: the request head is over a limit."""


class GuardedHTTPProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with Nagle off and bounded request heads."""

    max_header_bytes = MAX_HEADER_BYTES
    max_headers = MAX_HEADERS
    header_timeout = HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._awaiting_head = True  # between two requests, or inside a head
        self._head_bytes = 0  # bytes received since the current head began
        self._head_fields = 0
        self._head_size = 0  # exact size of the parsed request line and header fields
        self._head_timer: asyncio.TimerHandle | None = None

    @classmethod
    def configure(cls, settings: Settings) -> None:
        """Set the limits for every connection of this process from ``settings``."""
        cls.max_header_bytes = settings.max_header_bytes
        cls.max_headers = settings.max_headers
        cls.header_timeout = settings.header_timeout_seconds

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's own data_received, with the head limits around the parser
        self._unset_keepalive_if_required()
        if self._awaiting_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            if isinstance(e.__context__, _HeadTooLarge):
                self._refuse(431, "Request Header Fields Too Large", str(e.__context__))
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._awaiting_head and self._head_bytes > self.max_header_bytes:
            self._refuse(431, "Request Header Fields Too Large", self._too_large_text())

    # -- parser callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_head = True
        self._head_fields = 0
        self._head_size = 0

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        if self._head_size > self.max_header_bytes:
            raise _HeadTooLarge(self._too_large_text())
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_fields += 1
        self._head_size += len(name) + len(value) + 4
        if self._head_fields > self.max_headers:
            raise _HeadTooLarge(f"a request may carry at most {self.max_headers} header fields")
        if self._head_size > self.max_header_bytes:
            raise _HeadTooLarge(self._too_large_text())
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._head_bytes = 0
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._awaiting_head = True
        self._head_bytes = 0
        if not self.transport.is_closing():
            self._arm_head_timer()

    # -- the head timer --------------------------------------------------------------------

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        if self.header_timeout > 0:
            loop = asyncio.get_running_loop()
            self._head_timer = loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._awaiting_head or self.transport.is_closing():
            return
        if self._head_bytes:
            detail = f"the request head did not arrive within {self.header_timeout:g} s"
            self._refuse(408, "Request Timeout", detail)
        else:  # an idle connection that never sent a request: close it quietly
            self.transport.close()

    # -- refusing ----------------------------------------------------------------------------

    def _too_large_text(self) -> str:
        return f"the request line and headers may take at most {self.max_header_bytes} bytes"

    def _refuse(self, status: int, phrase: str, detail: str) -> None:
        """Answer a problem+json ``status`` and close: no request was handed to the app."""
        self._disarm_head_timer()
        body = json.dumps(
            {"type": "about:blank", "title": phrase, "status": status, "detail": detail}
        ).encode()
        head = (
            f"HTTP/1.1 {status} {phrase}\r\n"
            "content-type: application/problem+json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        ).encode()
        self.transport.write(head + body)
        self.transport.close()


#: the name earlier releases used
NoDelayHTTPProtocol = GuardedHTTPProtocol


def set_nodelay(transport: Any) -> None:
    """Turn Nagle's algorithm off on a TCP transport (no-op for other sockets)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
