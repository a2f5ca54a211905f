"""Minimal raw HTTP/1.x client pieces for byte-exact tests."""
import socket
import ssl


class Response:
    def __init__(self, version, status, reason, headers, body):
        self.version, self.status, self.reason = version, status, reason
        self.headers = headers      # list of (lower-name, value)
        self.body = body
        self.trailers = None        # chunked trailer fields (lower-name, value); None if not chunked

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k == name.lower()]

    def __repr__(self):
        return "<Response %s %s %r body=%d>" % (self.version, self.status, self.headers, len(self.body))


def connect(port, tls=False, host="127.0.0.1", timeout=10.0, alpn=("http/1.1",)):
    sock = socket.create_connection((host, port), timeout=timeout)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
    return sock


class Reader:
    """Buffered reader over a socket with per-operation timeouts."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False

    def _fill(self):
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def readline(self):
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise EOFError("connection closed while reading a line; buffer=%r" % bytes(self.buf[:200]))
        i = self.buf.index(b"\r\n") + 2
        line = bytes(self.buf[:i])
        del self.buf[:i]
        return line

    def read(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError("connection closed with %d of %d bytes" % (len(self.buf), n))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_to_eof(self):
        while self._fill():
            pass
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def at_eof(self, timeout=2.0):
        """True if the peer closes the connection (with no more data) within *timeout*."""
        if self.buf:
            return False
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            return not self._fill()
        except TimeoutError:
            return False
        finally:
            self.sock.settimeout(old)


def read_head(reader):
    line = reader.readline().decode("latin-1").rstrip("\r\n")
    parts = line.split(" ", 2)
    assert len(parts) >= 2 and parts[0].startswith("HTTP/"), "bad status line %r" % line
    version, status = parts[0], int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = []
    while True:
        h = reader.readline().decode("latin-1").rstrip("\r\n")
        if not h:
            break
        k, _, v = h.partition(":")
        headers.append((k.strip().lower(), v.strip()))
    return version, status, reason, headers


def read_response(reader, method="GET", skip_informational=True):
    """Read one response; 1xx responses are returned in ``.informational``."""
    informational = []
    while True:
        version, status, reason, headers = read_head(reader)
        if 100 <= status < 200 and status != 101 and skip_informational:
            informational.append((status, headers))
            continue
        break
    resp = Response(version, status, reason, headers, b"")
    resp.informational = informational
    te = resp.header("transfer-encoding", "")
    cl = resp.header("content-length")
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return resp
    if "chunked" in te.lower():
        body = bytearray()
        chunks = []
        while True:
            size_line = reader.readline()
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                resp.trailers = []  # the chunked trailer section (RFC 9112 §7.1.2)
                while True:
                    line = reader.readline()
                    if line == b"\r\n":
                        break
                    k, _, v = line.decode("latin-1").rstrip("\r\n").partition(":")
                    resp.trailers.append((k.strip().lower(), v.strip()))
                break
            data = reader.read(size)
            chunks.append(size)
            body += data
            assert reader.read(2) == b"\r\n"
        resp.body = bytes(body)
        resp.chunk_sizes = chunks
    elif cl is not None:
        resp.body = reader.read(int(cl))
    else:
        resp.body = reader.read_to_eof()
    return resp


def request(port, raw, tls=False, method="GET", timeout=10.0):
    """Send raw request bytes on a new connection, return (response, reader, sock)."""
    sock = connect(port, tls=tls, timeout=timeout)
    sock.sendall(raw)
    reader = Reader(sock)
    return read_response(reader, method=method), reader, sock


def simple(port, method, path, headers=(), body=b"", tls=False, timeout=10.0, close=True):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1:%d" % port]
    lines += ["%s: %s" % kv for kv in headers]
    if body:
        lines.append("Content-Length: %d" % len(body))
    if close:
        lines.append("Connection: close")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    resp, reader, sock = request(port, raw, tls=tls, method=method, timeout=timeout)
    sock.close()
    return resp
