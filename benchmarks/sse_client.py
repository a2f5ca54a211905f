"""M7's load client: many concurrent SSE streams over a few HTTP/2 (TLS) connections.

Why this module exists: h2load only reports whole-request times, but M7 asks for the delay
between consecutive events of each stream (the app sends one 16-byte event every 100 ms).
At 10,000 streams that is 100,000 DATA frames a second, more than the full `h2` state machine
can parse on a shared core, so this client does the minimum an HTTP/2 client must (preface,
SETTINGS/PING acks, HPACK via `hpack`, honouring SETTINGS_MAX_CONCURRENT_STREAMS) and reads
frames with struct-free slicing; it opens huge flow-control windows up front so it never has
to send WINDOW_UPDATE. One process, `selectors`, non-blocking sockets, a hard deadline.

Run: python -m benchmarks.sse_client URL --connections 100 --streams 100 --deadline 30
It prints one JSON object (completed, failed, unfinished, gap/first-event percentiles).
"""
from __future__ import annotations

import argparse
import json
import selectors
import socket
import ssl
import struct
import sys
import time
from urllib.parse import urlsplit

from hpack import Decoder, Encoder

_HEADER = struct.Struct(">IBI").unpack_from  # (length << 8 | type), flags, stream id

EVENT_LEN = 16  # benchmarks.apps.SSE_EVENT_LEN
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_WINDOW = 2**31 - 1
END_STREAM, END_HEADERS, PADDED, PRIORITY, ACK = 0x1, 0x4, 0x8, 0x20, 0x1


def frame(ftype: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return (len(payload).to_bytes(3, "big") + bytes((ftype, flags))
            + stream_id.to_bytes(4, "big") + payload)


class Stream:
    __slots__ = ("events", "last", "nbytes", "sent", "status")

    def __init__(self, now: float) -> None:
        self.sent = self.last = now
        self.nbytes, self.status, self.events = 0, "", 0


class Conn:
    """One HTTP/2 connection running `total` streams, at most `limit` at a time."""

    def __init__(self, sock: socket.socket, authority: str, scheme: str, path: str,
                 total: int, stats: "Stats") -> None:
        self.sock, self.stats, self.todo = sock, stats, total
        self.enc, self.dec = Encoder(), Decoder()
        self.req = [(":method", "GET"), (":scheme", scheme), (":authority", authority),
                    (":path", path), ("accept", "text/event-stream")]
        self.buf, self.out = bytearray(), bytearray()
        self.streams: dict = {}
        self.next_id, self.limit, self.dead = 1, 100, False
        self.hdr_sid, self.hdr_block = 0, b""  # a header block still awaiting CONTINUATION
        self.hdr_end_stream = False
        self.out += PREFACE + frame(4, 0, 0, (2).to_bytes(2, "big") + (0).to_bytes(4, "big")
                                    + (4).to_bytes(2, "big") + MAX_WINDOW.to_bytes(4, "big"))
        self.out += frame(8, 0, 0, (MAX_WINDOW - 65535).to_bytes(4, "big"))

    def open_streams(self, now: float) -> None:
        while self.todo and len(self.streams) < self.limit and not self.dead:
            sid, self.next_id, self.todo = self.next_id, self.next_id + 2, self.todo - 1
            self.out += frame(1, END_STREAM | END_HEADERS, sid, self.enc.encode(self.req))
            self.streams[sid] = Stream(now)

    def feed(self, data: bytes, now: float) -> None:
        """Parse every complete frame in the buffer; DATA (the hot path) is handled inline."""
        buf = self.buf
        buf += data
        pos, n = 0, len(buf)
        streams, stats = self.streams, self.stats
        while n - pos >= 9:
            lt, flags, sid = _HEADER(buf, pos)
            length = lt >> 8
            end = pos + 9 + length
            if end > n:
                break
            if lt & 0xFF == 0:  # DATA
                st = streams.get(sid & 0x7FFFFFFF)
                if st is not None:
                    size = length - (buf[pos + 9] + 1 if flags & PADDED else 0)
                    before = st.nbytes // EVENT_LEN
                    st.nbytes += size
                    for _ in range(st.nbytes // EVENT_LEN - before):
                        stats.event(st, now)
                    if flags & END_STREAM:
                        self.finish(sid & 0x7FFFFFFF, st.status == "200")
            else:
                self.on_frame(lt & 0xFF, flags, sid & 0x7FFFFFFF, bytes(buf[pos + 9:end]), now)
            pos = end
        del buf[:pos]

    def on_frame(self, ftype: int, flags: int, sid: int, payload: bytes, now: float) -> None:
        if ftype in (1, 9):  # HEADERS / CONTINUATION
            if ftype == 1:
                start = 1 if flags & PADDED else 0
                end = len(payload) - (payload[0] if flags & PADDED else 0)
                start += 5 if flags & PRIORITY else 0
                self.hdr_sid, self.hdr_block = sid, payload[start:end]
                self.hdr_end_stream = bool(flags & END_STREAM)
            else:
                self.hdr_block += payload
            if flags & END_HEADERS:
                headers = self.dec.decode(self.hdr_block, raw=True)
                st = self.streams.get(self.hdr_sid)
                if st is not None:
                    for k, v in headers:
                        if k == b":status":
                            st.status = v.decode()
                    if self.hdr_end_stream:  # no body, or trailers closing the stream
                        self.finish(self.hdr_sid, st.status == "200")
        elif ftype == 3:  # RST_STREAM
            if sid in self.streams:
                self.finish(sid, False)
        elif ftype == 4 and not flags & ACK:  # SETTINGS
            for i in range(0, len(payload) - 5, 6):
                if int.from_bytes(payload[i:i + 2], "big") == 3:
                    self.limit = max(1, int.from_bytes(payload[i + 2:i + 6], "big"))
            self.out += frame(4, ACK, 0)
            self.open_streams(now)
        elif ftype == 6 and not flags & ACK:  # PING
            self.out += frame(6, ACK, 0, payload)
        elif ftype == 7:  # GOAWAY
            self.dead = True
            last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            for s in [s for s in self.streams if s > last]:
                self.finish(s, False)
            self.stats.failed += self.todo
            self.todo = 0

    def finish(self, sid: int, ok: bool) -> None:
        st = self.streams.pop(sid)
        if ok and st.events:
            self.stats.completed += 1
        else:
            self.stats.failed += 1


class Stats:
    def __init__(self) -> None:
        self.completed = self.failed = 0
        self.gaps: list = []
        self.first: list = []

    def event(self, st: Stream, now: float) -> None:
        (self.gaps if st.events else self.first).append(now - st.last)
        st.last, st.events = now, st.events + 1


def pct(values: list, q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def histogram(values: list, width_ms: int = 5) -> list:
    """[[bucket start in ms, count], ...] of the non-empty buckets (for the report's charts)."""
    counts: dict = {}
    for v in values:
        b = int(v * 1000) // width_ms * width_ms
        counts[b] = counts.get(b, 0) + 1
    return sorted([k, c] for k, c in counts.items())


def connect(host: str, port: int, ctx: ssl.SSLContext | None, timeout: float) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if ctx is not None:
        sock = ctx.wrap_socket(sock, server_hostname=host)
        if sock.selected_alpn_protocol() != "h2":
            raise ConnectionError(f"ALPN chose {sock.selected_alpn_protocol()!r}, not h2")
    sock.setblocking(False)
    return sock


def run(url: str, connections: int, streams: int, deadline: float) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    ctx = None
    if parts.scheme == "https":
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    stats, sel, conns, t0 = Stats(), selectors.DefaultSelector(), [], time.monotonic()
    end_by, errors = t0 + deadline, []
    for _ in range(connections):
        try:
            sock = connect(host, port, ctx, 10.0)
        except (OSError, ConnectionError) as exc:
            errors.append(str(exc))
            stats.failed += streams
            continue
        conn = Conn(sock, f"{host}:{port}", parts.scheme, path, streams, stats)
        conns.append(conn)
        sel.register(sock, selectors.EVENT_READ, conn)
    setup_s = time.monotonic() - t0
    for conn in conns:  # requests go out only once the server's SETTINGS (limit) is known
        flush(conn, sel)
    while time.monotonic() < end_by:
        live = [c for c in conns if not c.dead and (c.streams or c.todo)]
        if not live:
            break
        for key, _mask in sel.select(timeout=0.2):
            conn = key.data
            try:
                data = bytearray()
                try:
                    while len(data) < 4 << 20:  # drain every TLS record / byte available now
                        chunk = conn.sock.recv(262144)
                        if not chunk:
                            if not data:
                                raise ConnectionResetError("server closed the connection")
                            break
                        data += chunk
                except (ssl.SSLWantReadError, BlockingIOError):
                    if not data:
                        raise
                conn.feed(data, time.monotonic())
            except (ssl.SSLWantReadError, BlockingIOError):
                pass
            except (OSError, ValueError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                drop(conn, sel)
                continue
            flush(conn, sel)
    unfinished = sum(len(c.streams) + c.todo for c in conns if not c.dead)
    for conn in conns:
        try:
            conn.sock.close()
        except OSError:
            pass
    ms = lambda v: None if v is None else round(v * 1000, 2)
    return {"streams": connections * streams, "completed": stats.completed,
            "failed": stats.failed, "unfinished": unfinished,
            "elapsed_s": round(time.monotonic() - t0, 3), "setup_s": round(setup_s, 3),
            "client_cpu_s": round(time.process_time(), 3),
            "events": len(stats.gaps) + len(stats.first),
            "gap_p50_ms": ms(pct(stats.gaps, 0.50)), "gap_p99_ms": ms(pct(stats.gaps, 0.99)),
            "gap_max_ms": ms(max(stats.gaps) if stats.gaps else None),
            "first_p50_ms": ms(pct(stats.first, 0.50)), "first_p99_ms": ms(pct(stats.first, 0.99)),
            "gap_hist_ms": histogram(stats.gaps), "first_hist_ms": histogram(stats.first, 50),
            "errors_seen": errors[:5]}


def drop(conn: Conn, sel: selectors.BaseSelector) -> None:
    conn.stats.failed += len(conn.streams) + conn.todo
    conn.streams.clear()
    conn.todo, conn.dead = 0, True
    try:
        sel.unregister(conn.sock)
    except (KeyError, ValueError):
        pass


def flush(conn: Conn, sel: selectors.BaseSelector) -> None:
    """Send what is queued; small requests on loopback, so a short blocking wait is fine."""
    if conn.dead or not conn.out:
        return
    conn.sock.setblocking(True)
    conn.sock.settimeout(5.0)
    try:
        conn.sock.sendall(conn.out)
        conn.out.clear()
    except OSError:
        drop(conn, sel)
    finally:
        if not conn.dead:
            conn.sock.setblocking(False)


def main(argv: list | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("--connections", type=int, default=100)
    p.add_argument("--streams", type=int, default=100, help="streams per connection")
    p.add_argument("--deadline", type=float, default=30.0, help="hard stop, seconds")
    a = p.parse_args(argv)
    json.dump(run(a.url, a.connections, a.streams, a.deadline), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
