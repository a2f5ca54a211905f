"""A client-side `ssl.SSLContext` whose sockets never run two OpenSSL calls at once.

Why the tests need it: python-engineio's client drives one websocket-client `WebSocket` from
three threads (its read loop, its write loop, and the thread that calls `disconnect()`, whose
`close()` reads frames while the read loop is still reading). CPython's `ssl.SSLSocket` releases
the GIL around `SSL_read` / `SSL_write` and has no lock of its own, so those threads run OpenSSL
calls on one `SSL` object at the same time, which OpenSSL does not allow: now and then a record
is lost or mangled and a socket.io call or connect never gets its answer (seen the same against
gevent.pywsgi with the stdlib's ssl; never with this context). Over cleartext the kernel makes
concurrent recv/send safe, which is why only wss:// showed it.

`SerializedSSLSocket` takes one lock around every OpenSSL call and never blocks inside one: a
read runs non-blocking and waits for the descriptor outside the lock, so a writer is not held
up by a reader waiting for data. Use it with websocket-client as
``sslopt={"context": serialized_context(cafile)}`` (python-socketio: ``websocket_extra_options``).
"""
import errno
import selectors
import ssl
import threading
import time

_CREATE = threading.Lock()


class SerializedSSLSocket(ssl.SSLSocket):
    def _ssl_lock(self):
        lock = self.__dict__.get("_serial")
        if lock is None:
            with _CREATE:
                lock = self.__dict__.setdefault("_serial", threading.RLock())
        return lock

    def settimeout(self, value):
        with self._ssl_lock():
            self.__dict__["_wanted_timeout"] = value
            super().settimeout(value)

    def gettimeout(self):
        return self.__dict__.get("_wanted_timeout", super().gettimeout())

    def recv(self, bufsize=1024, flags=0):
        timeout = self.gettimeout()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._ssl_lock():
                if self.fileno() < 0:
                    raise OSError(errno.EBADF, "the socket is closed")
                wanted = self.gettimeout()
                super().settimeout(0.0)
                try:
                    return super().recv(bufsize, flags)
                except (ssl.SSLWantReadError, BlockingIOError):
                    pass
                finally:
                    if self.fileno() >= 0:
                        super().settimeout(wanted)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError("timed out")
            self._wait_readable(left)

    def _wait_readable(self, left):
        with selectors.DefaultSelector() as sel:
            try:
                sel.register(self, selectors.EVENT_READ)
            except (ValueError, OSError):
                raise OSError(errno.EBADF, "the socket is closed") from None
            sel.select(0.05 if left is None else min(left, 0.05))  # re-check a close by another thread

    def send(self, data, flags=0):
        with self._ssl_lock():
            return super().send(data, flags)

    def sendall(self, data, flags=0):
        with self._ssl_lock():
            return super().sendall(data, flags)

    def shutdown(self, how):
        with self._ssl_lock():
            return super().shutdown(how)

    def close(self):
        with self._ssl_lock():
            return super().close()


def serialized_context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.sslsocket_class = SerializedSSLSocket
    return ctx
