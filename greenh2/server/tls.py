"""TLS with pyOpenSSL on gevent: the context (certificates, ciphers, ALPN) and a transport.

gevent has no pyOpenSSL integration. `TLSTransport` runs an `OpenSSL.SSL.Connection` over the
socket's non-blocking descriptor and, whenever OpenSSL wants to read or write, waits for the
descriptor with gevent (`wait_read`/`wait_write`), so the hub is never blocked. Each wait uses
its own watcher, so the connection's reader and writer greenlets may wait at the same time.
"""
from __future__ import annotations

import logging
import socket
import time
from typing import Any, cast

from gevent.socket import wait_read, wait_write
from OpenSSL import SSL

from greenh2 import observe
from greenh2.config import Config
from greenh2.errors import ConfigError, TooSlow
from greenh2.pace import Pace

log = logging.getLogger("greenh2")

# RFC 9113 §9.2.2: TLS 1.2 with HTTP/2 needs ephemeral key exchange and AEAD ciphers.
H2_TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL:!MD5:!DSS"
_VERIFY = {"none": SSL.VERIFY_NONE, "optional": SSL.VERIFY_PEER,
           "required": SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT}
_RECORDS_PER_READ = 16
_RECORD = 16384  # one TLS record's plaintext at most: pyOpenSSL allocates the size asked per call


def make_context(config: Config, certfile: str, keyfile: str) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_3_VERSION if config.tls_min_version == "1.3"
                              else SSL.TLS1_2_VERSION)
    # RFC 9113 §9.2.1: no compression, no renegotiation.
    ctx.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_NO_RENEGOTIATION | SSL.OP_CIPHER_SERVER_PREFERENCE)
    try:
        ctx.set_cipher_list((config.ciphers or H2_TLS12_CIPHERS).encode())
    except SSL.Error:
        raise ConfigError(f"ciphers: OpenSSL accepts none of {config.ciphers!r}") from None
    _load_certificate(ctx, certfile, keyfile)
    if config.ca_certs:
        try:
            ctx.load_verify_locations(config.ca_certs)
        except SSL.Error:
            raise ConfigError(f"ca_certs: cannot load {config.ca_certs}") from None
    ctx.set_verify(_VERIFY[config.cert_reqs], lambda conn, cert, errno, depth, ok: bool(ok))
    offered = [b"h2"] if "h2" in config.protocols else []
    offered += [b"http/1.1"] if "h1" in config.protocols else []
    ctx.set_alpn_select_callback(lambda conn, protos: _select_alpn(offered, protos))
    return ctx


def _load_certificate(ctx: SSL.Context, certfile: str, keyfile: str) -> None:
    for what, path in (("certfile", certfile), ("keyfile", keyfile)):
        try:
            open(path, "rb").close()
        except OSError as exc:
            raise ConfigError(f"{what} {path}: {exc.strerror}") from None
    try:
        ctx.use_certificate_chain_file(certfile)
    except SSL.Error:
        raise ConfigError(f"certfile {certfile}: not a PEM certificate") from None
    try:
        ctx.use_privatekey_file(keyfile)
    except SSL.Error:
        raise ConfigError(f"keyfile {keyfile}: not a PEM private key") from None
    try:
        ctx.check_privatekey()
    except SSL.Error:
        raise ConfigError(f"keyfile {keyfile} does not match certfile {certfile}") from None


def _select_alpn(offered: list[bytes], protos: list[bytes]) -> Any:
    for proto in offered:  # our preference order: h2, then http/1.1
        if proto in protos:
            return proto
    return SSL.NO_OVERLAPPING_PROTOCOLS


def _read_outcome(exc: SSL.Error) -> bytes | Exception:
    """What a failed SSL_read means to the caller: b"" (EOF) or the exception to raise."""
    if isinstance(exc, SSL.ZeroReturnError):  # close_notify (RFC 8446 §6.1)
        return b""
    if isinstance(exc, SSL.SysCallError):
        if exc.args and exc.args[0] == -1:  # TCP close without close_notify
            return b""
        return ConnectionResetError(str(exc))
    return ConnectionResetError(f"TLS error: {exc}")


def wait_writable(sock: socket.socket, fd: int, timeout: float | None, pace: Pace | None) -> None:
    """Wait until `fd` takes more bytes, for at most `timeout` seconds (send_timeout-style) and
    within the client's min_response_rate credit (`pace`): TooSlow when that runs out."""
    if pace is None or not pace.enabled:
        wait_write(fd, timeout, TimeoutError("send"))
        return
    allowed = pace.allowance(timeout)
    pace.begin()
    try:
        wait_write(fd, None if allowed is None else max(allowed, 0.001), TimeoutError("send"))
    except TimeoutError:
        pace.end()
        if not pace.exhausted():
            raise
        observe.OBSERVER.limit_tripped("response_rate")
        log.info("closing connection from %s: the client takes the response below "
                 "min_response_rate (%d bytes in %.1f s of waiting)", _peer(sock),
                 pace.drained, pace.spent)
        raise TooSlow("client reads below min_response_rate") from None
    pace.end()


def _peer(sock: socket.socket) -> str:
    try:
        peer = sock.getpeername()
    except OSError:
        return "?"
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer or "unix")


def shut_now(sock: socket.socket) -> None:
    """End the TCP connection at once (FIN both ways), before the new connection it makes room
    for is served: worker_connections counts connections, and the shed one's greenlet closes
    the file descriptor on its next turn. shutdown(), not close(): a greenlet may still be
    waiting on this descriptor, and it wakes with end-of-file instead of a reused fd."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already gone
        pass


def _aborted() -> ConnectionAbortedError:
    return ConnectionAbortedError("connection shed")


class TLSTransport:
    secure = True
    aborted = False

    def __init__(self, sock: socket.socket, ctx: SSL.Context) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.conn = SSL.Connection(ctx, sock)
        self.conn.set_accept_state()
        self.timeout: float | None = None
        self.alpn = ""
        self.tls_version = ""
        self._after: bytes | Exception | None = None  # see _more()

    def handshake(self, timeout: float) -> None:
        """Complete the TLS handshake; socket.timeout after `timeout` seconds (slowloris)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.conn.do_handshake()
                break
            except SSL.WantReadError:
                wait_read(self.fd, max(deadline - time.monotonic(), 0.001), TimeoutError("TLS handshake"))
            except SSL.WantWriteError:
                wait_write(self.fd, max(deadline - time.monotonic(), 0.001), TimeoutError("TLS handshake"))
            except SSL.Error as exc:
                raise ConnectionResetError(f"TLS handshake failed: {exc}") from None
        self.alpn = (self.conn.get_alpn_proto_negotiated() or b"").decode("ascii", "replace")
        self.tls_version = self.conn.get_protocol_version_name()

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout

    def abort(self) -> None:
        """The connection was shed: every later recv/sendall fails at once."""
        self.aborted = True
        shut_now(self.sock)

    def recv(self, size: int) -> bytes:
        """Up to `size` bytes of plaintext; several records at once when they are there."""
        if self._after is not None:  # what ended the previous read after its last good record
            after, self._after = self._after, None
            if isinstance(after, Exception):
                raise after
            return after


        if self.aborted:
            raise _aborted()
        while True:
            try:
                data = self.conn.recv(min(size, _RECORD))
                break
            except SSL.WantReadError:
                wait_read(self.fd, self.timeout, TimeoutError("idle"))
            except SSL.WantWriteError:
                wait_write(self.fd, self.timeout, TimeoutError("idle"))
            except SSL.Error as exc:
                outcome = _read_outcome(exc)
                if isinstance(outcome, Exception):
                    raise outcome from None
                return outcome
        return self._more(data, size)

    def fileno(self) -> int:
        return self.fd

    def recv_nowait(self, size: int) -> bytes | None:
        """What recv() would return now, without waiting: None if nothing has arrived yet, b""
        when the client has closed (or the connection broke), else plaintext."""
        if self._after is not None:
            after, self._after = self._after, None
            return b"" if isinstance(after, Exception) else after
        try:
            data: bytes = self.conn.recv(min(size, _RECORD))
        except (SSL.WantReadError, SSL.WantWriteError):
            return None
        except SSL.Error as exc:
            outcome = _read_outcome(exc)
            return b"" if isinstance(outcome, Exception) else outcome
        return data

    def _more(self, data: bytes, size: int) -> bytes:
        parts = [data]
        total = len(data)
        for _ in range(_RECORDS_PER_READ):
            if total >= size:
                break
            try:
                more = self.conn.recv(min(size - total, _RECORD))
            except (SSL.WantReadError, SSL.WantWriteError):
                break
            except SSL.Error as exc:
                # The end (close_notify, EOF, a bad record) came right after good records: hand
                # those over now and the end on the next recv(). Reading the SSL object again
                # instead would find it dead with an empty error queue ("TLS error: []").
                self._after = _read_outcome(exc)
                break
            if not more:
                break
            parts.append(more)
            total += len(more)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def sendall(self, data: bytes, pace: Pace | None = None) -> None:
        """All of `data`; `pace`: the response's min_response_rate (bytes sent right after a
        wait are what the client took)."""
        timeout = self.timeout
        view = memoryview(data)
        waited = False
        while view:
            if self.aborted:
                raise _aborted()
            try:
                sent = self.conn.send(view[:262144])
                view = view[sent:]
                if waited and pace is not None:
                    pace.moved(sent)
                waited = False
            except SSL.WantWriteError:
                wait_writable(self.sock, self.fd, timeout, pace)
                waited = True
            except SSL.WantReadError:
                wait_read(self.fd, timeout, TimeoutError("send"))
            except SSL.SysCallError as exc:
                raise BrokenPipeError(str(exc)) from None
            except SSL.Error as exc:
                raise BrokenPipeError(f"TLS error: {exc}") from None

    def close(self) -> None:
        try:
            self.conn.set_shutdown(SSL.SENT_SHUTDOWN | SSL.RECEIVED_SHUTDOWN)
        except SSL.Error:
            pass
        self.sock.close()


class PlainTransport:
    """The cleartext twin of TLSTransport: the same small interface over a gevent socket."""
    secure = False
    alpn = ""
    tls_version = ""
    aborted = False

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.timeout: float | None = None

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.sock.settimeout(timeout)

    def abort(self) -> None:
        """The connection was shed: every later recv/sendall fails at once."""
        self.aborted = True
        shut_now(self.sock)

    def recv(self, size: int) -> bytes:
        if self.aborted:
            raise _aborted()
        return self.sock.recv(size)

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv_nowait(self, size: int) -> bytes | None:
        """What recv() would return now, without waiting: None if nothing has arrived yet, b""
        when the client has closed (or the connection broke)."""
        try:  # gevent's socket wraps a non-blocking stdlib one: read that, never wait
            data: bytes = cast(Any, self.sock)._sock.recv(size)
        except BlockingIOError:
            return None
        except OSError:
            return b""
        return data

    def sendall(self, data: bytes, pace: Pace | None = None) -> None:
        if self.aborted:
            raise _aborted()
        if pace is None or not pace.enabled:
            self.sock.sendall(data)
            return
        sock = cast(Any, self.sock)  # gevent's send() takes a timeout; 0.0: never wait in it
        view = memoryview(data)
        waited = False
        while view:
            try:
                sent = sock.send(view, 0, timeout=0.0)
            except BlockingIOError:
                wait_writable(self.sock, self.sock.fileno(), self.timeout, pace)
                waited = True
                if self.aborted:
                    raise _aborted() from None
                continue
            view = view[sent:]
            if waited:
                pace.moved(sent)
            waited = False

    def close(self) -> None:
        self.sock.close()
