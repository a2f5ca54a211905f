"""WebSocket attacks: each is bounded (closed with the right code, or dropped in bounded time,
with bounded memory) while an honest HTTP/2 client keeps being served next to it."""
from __future__ import annotations

import socket
import time

import psutil
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from support.h2raw import H2Client
from support.ws_h2 import H2WebSocket
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import FrameProtocol, Opcode

from attacks.conftest import MiB, memory_growth

WS_APP = "websocket_apps:app"
HANDSHAKE = (b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")


class RawWs:
    """A WebSocket client over a plain socket that can send frames no honest client would."""

    def __init__(self, port: int, path: str = "/echo", deflate: bool = False) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        extra = b"Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else b""
        self.sock.sendall(HANDSHAKE.replace(b"/echo", path.encode()) + extra + b"\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            assert chunk, f"closed during handshake: {head!r}"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101 "), head
        self.ext = []
        if deflate:
            assert b"permessage-deflate" in head
            ext = PerMessageDeflate()
            ext.finalize("permessage-deflate")
            self.ext = [ext]
        self.proto = FrameProtocol(client=True, extensions=self.ext)
        self.reader = Connection(ConnectionType.CLIENT, extensions=[e for e in self._fresh_ext()])

    def _fresh_ext(self) -> list:
        if not self.ext:
            return []
        ext = PerMessageDeflate()
        ext.finalize("permessage-deflate")
        return [ext]

    def frame(self, opcode: Opcode, payload: bytes = b"", fin: bool = True) -> bytes:
        return bytes(self.proto._serialize_frame(opcode, payload, fin))

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_code(self, timeout: float = 10.0) -> int | None:
        """Read until the server's Close frame (its code) or EOF (None)."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(timeout)
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return None
            if not data:
                return None
            self.reader.receive_data(data)
            for ev in self.reader.events():
                if isinstance(ev, CloseConnection):
                    return int(ev.code)
        raise TimeoutError("no Close from the server")


def test_flood_of_empty_fragments(attack_server, good_client):
    """An endless message of empty continuation frames: counted per frame, closed with 1009."""
    srv = attack_server([], app=WS_APP)
    canary = good_client(srv.port)
    ws = RawWs(srv.port)
    ws.send(ws.frame(Opcode.TEXT, b"", fin=False))
    empty = ws.frame(Opcode.CONTINUATION, b"", fin=False)
    t0 = time.monotonic()
    try:
        for _ in range(20):
            ws.send(empty * 2000)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert ws.close_code() == 1009
    assert time.monotonic() - t0 < 8
    canary.stop()
    canary.check()


def test_flood_of_pings(attack_server, good_client):
    """Control frames beyond the budget (100, +50/s) are a policy violation: 1008."""
    srv = attack_server([], app=WS_APP)
    canary = good_client(srv.port)
    ws = RawWs(srv.port)
    try:
        ws.send(ws.frame(Opcode.PING, b"p") * 5000)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert ws.close_code() == 1008
    canary.stop()
    canary.check()


def test_endless_fragmented_message(attack_server, good_client):
    srv = attack_server(["--ws-max-message-size", str(MiB)], app=WS_APP)
    canary = good_client(srv.port)
    baseline = srv.rss()
    ws = RawWs(srv.port)
    ws.send(ws.frame(Opcode.BINARY, b"x" * 1024, fin=False))
    piece = ws.frame(Opcode.CONTINUATION, b"x" * 16384, fin=False)
    try:
        for _ in range(4096):  # 64 MiB if nobody stopped it
            ws.send(piece)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert ws.close_code() == 1009
    assert memory_growth(srv, baseline) < 32 * MiB
    canary.stop()
    canary.check()


def test_deflate_bomb(attack_server, good_client):
    """100 MiB of zeros deflate to ~100 KB; inflation stops at the 1 MiB cap: 1009, and the
    server never holds the inflated message."""
    srv = attack_server(["--ws-max-message-size", str(MiB)], app=WS_APP)
    canary = good_client(srv.port)
    baseline = srv.rss()
    ws = RawWs(srv.port, deflate=True)
    bomb = bytes(ws.proto.send_data(b"\0" * (100 * MiB), fin=True))
    assert len(bomb) < 200_000
    try:
        ws.send(bomb)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert ws.close_code() == 1009
    assert memory_growth(srv, baseline) < 24 * MiB
    canary.stop()
    canary.check()


def test_slow_handshake(attack_server, good_client):
    """The upgrade request head dribbled byte by byte: dropped at handshake_timeout (1 s)."""
    srv = attack_server([], app=WS_APP)
    canary = good_client(srv.port)
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    t0 = time.monotonic()
    closed = False
    for byte in HANDSHAKE:
        try:
            sock.sendall(bytes([byte]))
            time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        if time.monotonic() - t0 > 6:
            break
    if not closed:
        sock.settimeout(5)
        try:
            closed = sock.recv(100) == b""
        except ConnectionResetError:
            closed = True
    assert closed and time.monotonic() - t0 < 6
    canary.stop()
    canary.check()


def test_client_that_never_reads_h1(attack_server, good_client):
    """The app pushes 6 GiB; the client reads nothing: send blocks up to send_timeout (2 s),
    then the connection is dropped; server memory stays flat."""
    srv = attack_server([], app=WS_APP)
    canary = good_client(srv.port)
    baseline = srv.rss()
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    sock.sendall(HANDSHAKE.replace(b"/echo", b"/push?n=100000&size=65536") + b"\r\n")
    port = sock.getsockname()[1]
    assert sock.recv(12) == b"HTTP/1.1 101"  # accepted; from now on we read nothing
    deadline = time.monotonic() + 8  # send_timeout 2 s, plus slack
    while time.monotonic() < deadline and _established(srv, port):
        time.sleep(0.2)
    # The server closed its side (what its kernel still buffers drains at the client's pace).
    assert not _established(srv, port)
    assert memory_growth(srv, baseline) < 32 * MiB
    sock.close()
    canary.stop()
    canary.check()


def _established(srv, port: int) -> bool:
    conns = psutil.Process(srv.pid).net_connections(kind="tcp")
    return any(c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
               for c in conns)


def test_client_that_never_reads_h2(attack_server, good_client):
    """Over HTTP/2 the stream window closes; after send_timeout the stream is reset (CANCEL)
    and the connection keeps serving other streams."""
    srv = attack_server([], app=WS_APP)
    canary = good_client(srv.port)
    with H2Client("127.0.0.1", srv.port, auto_ack=False,
                  local_settings={SettingCodes.INITIAL_WINDOW_SIZE: 65535}) as c:
        ws = H2WebSocket(c, "/push?n=100000&size=65536")
        assert ws.wait_response().status == 200
        st = c.wait_stream(ws.stream_id, timeout=10)
        assert st.reset == ErrorCodes.CANCEL and len(st.data) <= 65535
        c.conn.increment_flow_control_window(1 << 20)  # connection credit for the next stream
        c.flush()
        sid = c.get("/hello")
        assert c.wait_stream(sid).status == 200
    canary.stop()
    canary.check()
