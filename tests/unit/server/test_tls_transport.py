"""TLSTransport.recv reads several records per call; what happens after the last good one must
still reach the caller as it happened: a bad record as a TLS error that names its reason, a TCP
close without close_notify as EOF (b""), not as an empty "TLS error: []" from a dead SSL object.
The client is stdlib ssl over memory BIOs in a thread, so the test can corrupt a chosen record.
"""
import socket
import ssl
import threading

import pytest

from greenh2.config import Config
from greenh2.server.tls import TLSTransport, make_context


def _client(sock, cafile, records, then_close):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname="localhost")
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(out.read())
            data = sock.recv(65536)
            if not data:
                return
            inc.write(data)
    sock.sendall(out.read())
    wire = b""
    for plaintext, corrupt in records:
        tls.write(plaintext)
        record = bytearray(out.read())
        if corrupt:
            record[-3] ^= 0x01  # inside the AEAD tag: the record fails to authenticate
        wire += bytes(record)
    sock.sendall(wire)  # every record in one segment: one server recv() sees them all
    if then_close:  # FIN without close_notify; what the server sent meanwhile (TLS 1.3 session
        # tickets) is read before the close: closing with unread input is a reset, not a FIN
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(10)
        try:
            while sock.recv(65536):
                pass
        finally:
            sock.close()
    else:
        try:
            sock.recv(1)  # hold the connection until the server closes
        except OSError:  # the server's close (a reset: it had input unread) or the test's own
            pass


def _serve(certs, records, then_close):
    a, b = socket.socketpair()
    client = threading.Thread(target=_client, args=(b, certs.certfile, records, then_close),
                              daemon=True)
    client.start()
    transport = TLSTransport(a, make_context(Config(), certs.certfile, certs.keyfile))
    transport.settimeout(5.0)
    transport.handshake(5.0)
    return transport, client, b


def _read_until_end(transport):
    got = b""
    while True:
        data = transport.recv(65536)
        if not data:
            return got
        got += data


def test_bad_record_after_good_ones_names_its_reason(certs):
    transport, client, peer = _serve(certs, [(b"hello ", False), (b"world", True)], False)
    try:
        with pytest.raises(ConnectionResetError) as info:
            _read_until_end(transport)
        assert "bad record mac" in str(info.value), str(info.value)
    finally:
        transport.close()
        peer.close()
        client.join(5)


def test_eof_without_close_notify_after_data_is_eof(certs):
    transport, client, peer = _serve(certs, [(b"hello ", False), (b"world", False)], True)
    try:
        assert _read_until_end(transport) == b"hello world"
    finally:
        transport.close()
        client.join(5)
