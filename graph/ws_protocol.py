"""uvicorn's websocket protocol, with the frames written in one turn of the event loop sent together.

uvicorn writes every websocket frame to its socket at once, one `send()` system call per frame. A
subscription delivering a burst of events (a worker batch announces up to a hundred incident changes
in one notification) writes a frame per event without yielding in between, paying a system call per
event (a large share of its cost, see bench/README.md). Here the frames of one turn are joined and
sent once the turn ends.

`alertwhisperer serve` uses it; with the uvicorn command line, pass
`--ws graph.ws_protocol:CoalescingWebSocketProtocol`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

WS_PROTOCOL = "graph.ws_protocol:CoalescingWebSocketProtocol"


class CoalescingTransport:
    """A transport whose writes made in one turn of the loop reach the socket as one write, in order.

    Everything else is the wrapped transport's: closing first sends what is pending, aborting drops it.
    """

    __slots__ = ("_transport", "_loop", "_pending", "_scheduled")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._pending.append(bytes(data))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(p) for p in self._pending)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O websocket protocol writing through a `CoalescingTransport`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.transport = CoalescingTransport(self.transport, self.loop)  # type: ignore[assignment]
