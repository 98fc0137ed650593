"""Websocket frames written in one turn of the event loop leave in one write (graph/ws_protocol.py)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from graph.ws_protocol import CoalescingTransport, CoalescingWebSocketProtocol


class RecordingTransport:
    """A real socket transport that also records each write it is given."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


_PEERS: list[asyncio.StreamWriter] = []  # a peer's writer closes its socket when collected


async def _connected_pair() -> tuple[RecordingTransport, asyncio.StreamReader]:
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    reader, writer = await asyncio.open_connection(sock=theirs)
    _PEERS.append(writer)
    return RecordingTransport(transport), reader  # type: ignore[arg-type]


async def test_writes_made_in_one_turn_reach_the_socket_as_one_write_in_order():
    raw, reader = await _connected_pair()
    coalescing = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]

    for frame in (b"one,", b"two,", b"three."):
        coalescing.write(frame)
    assert raw.writes == []  # nothing leaves before the turn ends
    await asyncio.sleep(0)
    assert raw.writes == [b"one,two,three."]

    coalescing.write(b"next turn")
    await asyncio.sleep(0)
    assert raw.writes == [b"one,two,three.", b"next turn"]
    assert await reader.readexactly(len(b"one,two,three.next turn")) == b"one,two,three.next turn"
    coalescing.close()


async def test_closing_sends_what_is_pending_first_and_aborting_drops_it():
    raw, reader = await _connected_pair()
    coalescing = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    coalescing.write(b"last frame")
    coalescing.close()
    assert await reader.read() == b"last frame"  # then end of stream

    raw, reader = await _connected_pair()
    coalescing = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    coalescing.write(b"never sent")
    coalescing.abort()
    await asyncio.sleep(0)
    assert raw.writes == []
    assert await reader.read() == b""


async def test_the_protocol_writes_through_a_coalescing_transport():
    # given uvicorn's own config and server state, as it builds the protocol for an upgrade
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    async def app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never called
        pass

    config = Config(app, ws="graph.ws_protocol:CoalescingWebSocketProtocol")
    config.load()
    assert config.ws_protocol_class is CoalescingWebSocketProtocol
    raw, _ = await _connected_pair()
    protocol = CoalescingWebSocketProtocol(config, ServerState(), {}, _loop=asyncio.get_running_loop())
    protocol.connection_made(raw)  # type: ignore[arg-type]
    assert isinstance(protocol.transport, CoalescingTransport)
    protocol.transport.write(b"frame")
    await asyncio.sleep(0)
    assert raw.writes == [b"frame"]
    raw.close()
