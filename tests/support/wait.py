"""Readiness waits for tests: poll for the state a test needs instead of sleeping a fixed time.

A fixed ``time.sleep(0.5)`` is either too long (wasted on a quiet machine) or too short (a
flake on a loaded one). These helpers return as soon as the condition holds and fail with a
message naming what was awaited when it does not hold within a generous timeout (generous
because the happy path never waits for it).

* ``wait_for(predicate, timeout, what)`` -- the predicate's first truthy value
* ``wait_listening(port, proc=None)``     -- a TCP LISTEN socket on the port, found in
                                             /proc/net/tcp{,6} WITHOUT connecting (a probe
                                             connection would be a real client for a server
                                             that execs on its first connection, as
                                             systemd-socket-activate does); fails early when
                                             ``proc`` (a Popen) exits
* ``wait_connections(port, n)``           -- at least n ESTABLISHED connections to a local
                                             port (clients started in a thread or a
                                             subprocess are connected), from /proc/net
* ``wait_port(port)``                     -- a TCP connect succeeds (the listener accepts)
* ``wait_http(url, status=200)``          -- a plain HTTP/1.1 GET answers ``status`` (e.g. a
                                             health path such as /healthz or /readyz)
* ``wait_stderr(server, pattern)``        -- ServerProcess.wait_for_stderr that raises

Inside the server, ``apps:app``'s ``/sleep?s=S&note=NAME`` prints ``apps: in /sleep NAME`` to
stderr when the handler starts: ``wait_stderr(srv, "apps: in /sleep NAME")`` is the readiness
wait for "the request is now inside the app" (then signal, reload, ... while it is in flight).
"""
import socket
import time
import urllib.error
import urllib.request

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp
_ESTABLISHED = "01"


def wait_for(predicate, timeout=30.0, what="condition", interval=0.05):
    """Call ``predicate`` until it returns a truthy value (returned); AssertionError after
    ``timeout`` seconds. Exceptions from the predicate count as 'not yet'."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # not ready yet (refused, not found...)
            last_exc = exc
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s%s" % (
                timeout, what, " (last error: %r)" % (last_exc,) if last_exc else ""))
        time.sleep(interval)


def _sockets(state):
    """Local ports of the TCP sockets in ``state`` (IPv4 and IPv6), one per socket."""
    ports = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == state:
                        ports.append(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return ports


def listening_ports():
    """Local ports with a TCP socket in LISTEN state (IPv4 and IPv6), from /proc/net."""
    return set(_sockets(_LISTEN))


def established(port):
    """How many ESTABLISHED TCP connections have ``port`` as their local port (server side)."""
    return _sockets(_ESTABLISHED).count(port)


def wait_connections(port, n, timeout=30.0, what=None):
    """Wait until at least ``n`` connections to local ``port`` are established."""
    return wait_for(lambda: established(port) >= n, timeout,
                    what or "%d connections to port %d" % (n, port))


def wait_listening(port, proc=None, timeout=30.0, what=None):
    """Wait until something listens on ``port`` without connecting to it."""
    def check():
        if proc is not None and proc.poll() is not None:
            raise AssertionError("%s exited with %r before listening on port %d" % (
                what or "the process", proc.returncode, port))
        return port in listening_ports()
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise AssertionError("nothing listening on port %d after %.0fs (%s)" % (
                port, timeout, what or "listener"))
        time.sleep(0.02)


def wait_port(port, host="127.0.0.1", timeout=30.0):
    """Wait until a TCP connection to host:port succeeds (the connection is closed at once)."""
    def connect():
        socket.create_connection((host, port), 1.0).close()
        return True
    wait_for(connect, timeout, "a connection to %s:%d" % (host, port))


def wait_http(url, status=200, timeout=30.0):
    """Wait until a GET of ``url`` (cleartext HTTP/1.1) answers ``status``; returns the body."""
    def get():
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                code, body = r.status, r.read()
        except urllib.error.HTTPError as e:
            code, body = e.code, e.read()
        return body if code == status else None
    return wait_for(get, timeout, "%s to answer %d" % (url, status))


def wait_stderr(server, pattern, timeout=30.0, start=0):
    """The first stderr line of a ServerProcess matching ``pattern``; AssertionError if none."""
    line = server.wait_for_stderr(pattern, timeout=timeout, start=start)
    assert line is not None, "no stderr line matching %r within %.0fs:\n%s" % (
        pattern, timeout, server.stderr_text()[-3000:])
    return line


def stderr_mark(server):
    """Index to pass as ``start`` to wait for lines printed after this point."""
    return len(server.stderr_lines())
