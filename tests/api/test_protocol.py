"""Every connection the server accepts has Nagle's algorithm off, also with ``--workers N``.

uvicorn binds the listening socket itself for several workers (``proto`` 0), and asyncio then
leaves Nagle on for the connections it accepts: each keep-alive response waited ~40 ms for
the client's delayed ACK. ``NoDelayHTTPProtocol`` sets ``TCP_NODELAY`` per connection.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
from uvicorn.server import ServerState

from llmtrail.server.protocol import NoDelayHTTPProtocol


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _nodelay_of_accepted(protocol: type[asyncio.Protocol]) -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # as uvicorn binds for workers
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    config = uvicorn.Config(_app, log_config=None)
    config.load()
    state = ServerState()
    seen: list[int] = []

    class Probe(protocol):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            s = transport.get_extra_info("socket")
            seen.append(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Probe(config=config, server_state=state, app_state={}), sock=sock
    )
    try:
        reader, writer = await asyncio.open_connection(*sock.getsockname())
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        writer.close()
    finally:
        server.close()
    assert len(seen) == 1
    return seen[0]


def test_connections_of_a_uvicorn_bound_socket_have_nagle_off() -> None:
    assert asyncio.run(_nodelay_of_accepted(_Base)) == 0  # the problem: uvicorn's own protocol
    assert asyncio.run(_nodelay_of_accepted(NoDelayHTTPProtocol)) != 0
