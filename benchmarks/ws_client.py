"""The WebSocket echo load generator: N clients, each on its own connection, each sending one
message and waiting for its echo (closed loop) for a fixed time; prints one JSON record.

Why this module exists: no stock tool drives WebSockets over HTTP/2 (RFC 8441), and comparing
HTTP/1.1 with HTTP/2 is only fair when one client does both. So both transports use the same
code: wsproto for the WebSocket frames and, over HTTP/2, h2's client side for the extended
CONNECT stream (`:protocol websocket`); over HTTP/1.1 wsproto does the RFC 6455 handshake.

    python -m benchmarks.ws_client ws://127.0.0.1:8000/ --transport h2 --clients 20 --seconds 3
"""
from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events
from h2.settings import SettingCodes
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Message,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)

READ = 65536


class Failed(Exception):
    pass


def _ssl_context(alpn: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the benchmark's throw-away certificate
    ctx.set_alpn_protocols([alpn])
    return ctx


class H1Socket:
    """RFC 6455 over one HTTP/1.1 connection."""

    def __init__(self, url: str) -> None:
        self.url = urlsplit(url)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: list = []

    async def connect(self) -> None:
        u = self.url
        tls = _ssl_context("http/1.1") if u.scheme == "wss" else None
        self.reader, self.writer = await asyncio.open_connection(u.hostname, u.port, ssl=tls)
        self.writer.write(self.ws.send(Request(host=u.netloc, target=u.path or "/")))
        while True:
            events = await self._read()
            for i, event in enumerate(events):
                if isinstance(event, AcceptConnection):
                    self.pending = events[i + 1:]
                    return
                if isinstance(event, RejectConnection):
                    raise Failed("handshake rejected")

    async def _read(self) -> list:
        data = await self.reader.read(READ)
        if not data:
            raise Failed("connection closed")
        self.ws.receive_data(data)
        return list(self.ws.events())

    async def send(self, text: str) -> None:
        self.writer.write(self.ws.send(TextMessage(data=text)))

    async def receive(self) -> str:
        return await _next_message(self)

    async def close(self) -> None:
        try:
            self.writer.write(self.ws.send(CloseConnection(code=1000)))
            await self.writer.drain()
        except Exception:
            pass
        self.writer.close()


class H2Socket:
    """RFC 8441: a WebSocket on an extended CONNECT stream of one HTTP/2 connection."""

    def __init__(self, url: str) -> None:
        self.url = urlsplit(url)
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                         header_encoding=None))
        self.ws = Connection(ConnectionType.CLIENT)
        self.stream_id = 0
        self.pending: list = []

    async def connect(self) -> None:
        u = self.url
        tls = _ssl_context("h2") if u.scheme == "wss" else None
        self.reader, self.writer = await asyncio.open_connection(u.hostname, u.port, ssl=tls)
        self.h2.initiate_connection()
        self._flush()
        while not self._settings_seen:  # the server's first SETTINGS frame must announce it
            await self._pump()
        if not self.h2.remote_settings.get(SettingCodes.ENABLE_CONNECT_PROTOCOL):
            raise Failed("server did not announce SETTINGS_ENABLE_CONNECT_PROTOCOL")
        self.stream_id = self.h2.get_next_available_stream_id()
        self.h2.send_headers(self.stream_id, [
            (b":method", b"CONNECT"), (b":protocol", b"websocket"),
            (b":scheme", b"https" if u.scheme == "wss" else b"http"),
            (b":path", (u.path or "/").encode()), (b":authority", u.netloc.encode()),
            (b"sec-websocket-version", b"13")])
        self._flush()
        while self.status is None:
            await self._pump()
        if self.status != b"200":
            raise Failed(f"CONNECT answered {self.status!r}")

    _settings_seen = False
    status = None

    def _flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.writer.write(data)

    async def _pump(self) -> None:
        data = await self.reader.read(READ)
        if not data:
            raise Failed("connection closed")
        for event in self.h2.receive_data(data):
            if isinstance(event, h2.events.RemoteSettingsChanged):
                self._settings_seen = True
            elif isinstance(event, h2.events.ResponseReceived) and event.stream_id == self.stream_id:
                self.status = dict(event.headers).get(b":status")
            elif isinstance(event, h2.events.DataReceived) and event.stream_id == self.stream_id:
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                self.ws.receive_data(event.data)
            elif isinstance(event, (h2.events.StreamReset, h2.events.StreamEnded,
                                    h2.events.ConnectionTerminated)):
                raise Failed(f"stream ended: {event}")
        self._flush()

    async def _read(self) -> list:
        await self._pump()
        return list(self.ws.events())

    async def send(self, text: str) -> None:
        self.h2.send_data(self.stream_id, self.ws.send(TextMessage(data=text)))
        self._flush()

    async def receive(self) -> str:
        return await _next_message(self)

    async def close(self) -> None:
        try:
            self.h2.send_data(self.stream_id, self.ws.send(CloseConnection(code=1000)),
                              end_stream=True)
            self._flush()
            await self.writer.drain()
        except Exception:
            pass
        self.writer.close()


async def _next_message(sock) -> str:
    """The next complete message (text or bytes); pings are answered."""
    parts: list = []
    while True:
        if not sock.pending:
            sock.pending = await sock._read()
        while sock.pending:
            event = sock.pending.pop(0)
            if isinstance(event, Message):
                parts.append(event.data)
                if event.message_finished:
                    first = parts[0]
                    return "".join(parts) if isinstance(first, str) else b"".join(parts)
            elif isinstance(event, Ping):
                await _send_raw(sock, sock.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                raise Failed(f"closed by the server ({event.code})")


async def _send_raw(sock, data: bytes) -> None:
    if isinstance(sock, H2Socket):
        sock.h2.send_data(sock.stream_id, data)
        sock._flush()
    else:
        sock.writer.write(data)


async def _one_client(url: str, transport: str, deadline: float, payload: str,
                      latencies: list, errors: list) -> None:
    sock = H2Socket(url) if transport == "h2" else H1Socket(url)
    try:
        await sock.connect()
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await sock.send(payload)
            echoed = await sock.receive()
            if echoed != payload:
                raise Failed("echo differs from what was sent")
            latencies.append(time.perf_counter() - started)
        await sock.close()
    except (Failed, OSError, asyncio.IncompleteReadError) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")


def percentile(values: list, fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(url: str, transport: str, clients: int, seconds: float, size: int) -> dict:
    latencies: list = []
    errors: list = []
    payload = "x" * size
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(
        _one_client(url, transport, deadline, payload, latencies, errors)
        for _ in range(clients))), seconds + 30)
    elapsed = time.perf_counter() - started
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    return {"transport": transport, "clients": clients, "messages": len(latencies),
            "elapsed_s": elapsed, "msg_per_s": len(latencies) / elapsed if elapsed else 0.0,
            "p50_ms": p50 * 1000 if p50 is not None else None,
            "p99_ms": p99 * 1000 if p99 is not None else None,
            "failed_clients": len(errors), "errors_seen": sorted(set(errors))[:5]}


def main(argv: list | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url", help="ws:// or wss:// URL")
    p.add_argument("--transport", choices=("h1", "h2"), default="h1")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--size", type=int, default=32, help="message size in characters")
    a = p.parse_args(argv)
    record = asyncio.run(run(a.url, a.transport, a.clients, a.seconds, a.size))
    json.dump(record, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
