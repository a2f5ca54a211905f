"""Per-connection entry point: TLS handshake, protocol choice, and the hand-off to HTTP/2 or
HTTP/1.1. The standalone server and the gunicorn worker both call `ConnectionHandler.handle`.

Protocol choice (one port serves all): TLS ALPN `h2` -> HTTP/2; otherwise the first bytes are
sniffed: the HTTP/2 preface (RFC 9113 §3.4, prior knowledge) -> HTTP/2, anything else ->
HTTP/1.1, which may upgrade to h2c (RFC 7540 §3.2). The TLS handshake and the first bytes share
one deadline, `handshake_timeout` (slowloris).

At `worker_connections`, the pool (server/process.py) asks `make_room` to shed the connection
doing least (greenh2.pace.choose_victim) so a new one is admitted instead of waiting.
"""
from __future__ import annotations

import logging
import socket
import time
from typing import Any

import gevent
from gevent import Timeout

from greenh2 import observe
from greenh2.config import Config
from greenh2.errors import Shed
from greenh2.http1.connection import H1Connection
from greenh2.http2.inbound import PREFACE
from greenh2.http2.session import H2Session
from greenh2.pace import Activity, choose_victim
from greenh2.server.tls import PlainTransport, TLSTransport
from greenh2.wsgi.dispatch import Dispatcher
from greenh2.wsgi.environ import ConnInfo, base_environ

log = logging.getLogger("greenh2")
LINGER_SECONDS = 1.0  # how long a closing connection keeps reading what the peer still sends
LINGER_BYTES = 1 << 20  # and how much of it, at most


class ConnectionHandler:
    """Shared by all connections of one listener set: config, app, TLS context, live sessions."""

    def __init__(self, config: Config, dispatcher: Dispatcher, ssl_context: Any = None) -> None:
        self.config = config
        self.dispatcher = dispatcher
        self.ssl_context = ssl_context
        self.active: set[Any] = set()  # H2Session / H1Connection, for graceful shutdown
        self.conns: dict[Any, Activity] = {}  # greenlet -> what it does, in accept order
        self.stopping = False

    def find_victim(self) -> tuple[Activity, str] | None:
        """The connection `make_room` would shed now, if any (shed_connections)."""
        if not self.config.shed_connections or self.stopping:
            return None
        return choose_victim(self.conns.values(), time.monotonic())

    def make_room(self, victim: tuple[Activity, str] | None = None) -> Any:
        """Shed one connection to admit a new one at the cap; its greenlet (which the pool
        stops counting at once), or None if every connection is doing real work."""
        victim = victim or self.find_victim()
        if victim is None or victim[0].shed_reason or victim[0].key not in self.conns:
            return None
        activity, reason = victim
        activity.shed_reason = reason
        del self.conns[activity.key]
        log.info("shedding connection from %s (%s) to admit a new one at worker_connections=%d",
                 activity.peer, reason, self.config.worker_connections)
        observe.OBSERVER.connection_shed(reason)
        if activity.on_shed is not None:
            activity.on_shed(reason)
        return activity.key

    def shutdown(self) -> None:
        """Graceful stop: GOAWAY on HTTP/2, `Connection: close` on HTTP/1.1."""
        self.stopping = True
        for session in list(self.active):
            session.shutdown()

    def handle(self, sock: socket.socket, address: Any) -> None:
        now = time.monotonic()
        deadline = now + self.config.handshake_timeout
        nodelay(sock)
        transport: Any = PlainTransport(sock)
        greenlet = gevent.getcurrent()
        activity = Activity(greenlet, now)
        activity.peer = _peer(address)

        def kill(reason: str) -> None:  # until an HTTP/2 session takes over (H2Session.shed)
            transport.abort()
            gevent.kill(greenlet, Shed(reason))
        activity.on_shed = kill
        self.conns[greenlet] = activity
        try:
            if self.ssl_context is not None:
                transport = TLSTransport(sock, self.ssl_context)
                transport.handshake(self.config.handshake_timeout)
            self._serve(transport, sock, address, deadline, activity)
        except (TimeoutError, Timeout):
            observe.OBSERVER.limit_tripped("slowloris")  # handshake_timeout
            log.debug("connection from %s timed out before its first request", address)
        except OSError as exc:
            log.debug("connection from %s ended: %s", address, exc)
        except Exception:  # a bug of ours: log it, lose this connection only
            log.exception("internal error on connection from %s", address)
        finally:
            self.conns.pop(greenlet, None)
            if not self.stopping and not transport.aborted:
                linger(sock)
            transport.close()

    def _serve(self, transport: Any, sock: socket.socket, address: Any, deadline: float,
               activity: Activity) -> None:
        info = self._conninfo(transport, sock, address)
        protocols = self.config.protocols
        if transport.alpn == "h2" or (protocols == ("h2",) and not transport.alpn):
            preread = sniff(transport, deadline)  # the preface, too, must come by the deadline
            self._run(H2Session(transport, self.config, self.dispatcher, info, preread=preread,
                                activity=activity), "h2")
            return
        preread = b""
        if "h2" in protocols and transport.alpn != "http/1.1" and \
                (transport.secure or self.config.h2c_prior_knowledge):
            preread = sniff(transport, deadline)
            if preread[:3] == PREFACE[:3]:
                self._run(H2Session(transport, self.config, self.dispatcher, info, preread=preread,
                                    activity=activity), "h2")
                return
        if not preread and transport.alpn != "http/1.1" and "h1" not in protocols:
            return
        h1 = H1Connection(transport, self.config, self.dispatcher, info, preread, deadline,
                          activity)
        upgrade = self._run(h1, "http/1.1")
        if upgrade is not None and not self.stopping:
            preface = sniff(transport, time.monotonic() + self.config.handshake_timeout, upgrade.rest)
            session = H2Session(transport, self.config, self.dispatcher, info, preread=preface,
                                upgrade=(upgrade.head, upgrade.settings, upgrade.body),
                                activity=activity)
            self._run(session, "h2", upgraded=True)

    def _run(self, session: Any, protocol: str, upgraded: bool = False) -> Any:
        """Serve one session, reported to the observer as an open `protocol` connection
        (`upgraded`: the HTTP/1.1 connection that became this one was counted already)."""
        observer = observe.OBSERVER
        tls = session.transport.secure
        if upgraded:
            observer.connection_upgraded(tls)
        else:
            observer.connection_opened(protocol, tls)
        self.active.add(session)
        try:
            if self.stopping:
                session.shutdown()
            return session.serve()
        finally:
            self.active.discard(session)
            observer.connection_closed(protocol, tls)

    def _conninfo(self, transport: Any, sock: socket.socket, address: Any) -> ConnInfo:
        local = sock.getsockname()
        if isinstance(local, tuple):
            server_name, server_port = local[0], str(local[1])
        else:
            server_name, server_port = "localhost", ""
        if isinstance(address, tuple):
            remote_addr, remote_port = address[0], str(address[1])
        else:
            remote_addr, remote_port = "", ""
        info = ConnInfo(server_name, server_port, remote_addr, remote_port,
                        "https" if transport.secure else "http", transport.alpn, transport.tls_version)
        info.base = base_environ(info)
        return info


def _peer(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address or "unix")


def sniff(transport: Any, deadline: float, data: bytes = b"") -> bytes:
    """Read until the bytes either are not a prefix of the HTTP/2 preface or are all of it."""
    with Timeout(max(deadline - time.monotonic(), 0.001)):
        while len(data) < len(PREFACE) and PREFACE.startswith(data):
            chunk = transport.recv(65536)
            if not chunk:
                break
            data += chunk
    return data



def linger(sock: socket.socket) -> None:
    """Lingering close (RFC 9112 §9.6; RFC 9113 §6.8 expects a GOAWAY to reach the peer): send
    FIN after what is queued, then read and discard what the peer still sends until it closes,
    for at most LINGER_SECONDS / LINGER_BYTES. Closing with unread input makes the kernel answer
    with a TCP reset, and a peer that was still sending (a flood cut off by GOAWAY, a request
    body we refused) would have its kernel drop our last frames unread. Skipped during a
    graceful stop, whose own GOAWAY exchange already waited for the peer."""
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + LINGER_SECONDS
        left = LINGER_BYTES
        while left > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            sock.settimeout(remaining)
            data = sock.recv(65536)
            if not data:
                return
            left -= len(data)
    except Exception:  # peer gone, timeout, or the session's reader still on the socket
        return


def nodelay(sock: socket.socket) -> None:
    """TCP_NODELAY: every write is already one coalesced burst (one sendall per writer turn), so
    Nagle's algorithm only holds a response back until the client's delayed ACK (40-200 ms on
    Linux), e.g. HEADERS + first DATA behind the SETTINGS, or each event of a stream."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
