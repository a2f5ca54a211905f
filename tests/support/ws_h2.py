"""A WebSocket client over an RFC 8441 extended-CONNECT stream, for tests: the HTTP/2 side is
`H2Client` (h2's client state machine), the WebSocket side is a wsproto client `Connection`
driven over the stream's DATA."""
import time

import h2.events
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, Pong, TextMessage
from wsproto.extensions import PerMessageDeflate


class H2WebSocket:
    def __init__(self, client, path="/echo", headers=None, protocol="websocket", deflate=False,
                 version="13"):
        self.client = client
        extra = [(":protocol", protocol)]
        if version is not None:
            extra.append(("sec-websocket-version", version))
        self.deflate = PerMessageDeflate() if deflate else None
        if self.deflate is not None:
            extra.append(("sec-websocket-extensions", "permessage-deflate; " + self.deflate.offer()))
        extra += list(headers or [])
        hdrs = [(":method", "CONNECT"), (":scheme", client.scheme), (":authority", client.authority),
                (":path", path)] + extra
        self.stream_id = client.send_headers(hdrs, end_stream=False)
        self.ws = None
        self._fed = 0
        self.closed_by_peer = None  # CloseConnection from the server

    @property
    def result(self):
        return self.client.streams[self.stream_id]

    def wait_response(self, timeout=5.0):
        st = self.result
        self.client.read_events(until=lambda c: st.headers is not None or st.done, timeout=timeout)
        if st.status == 200:
            extensions = []
            accepted = st.header("sec-websocket-extensions")
            if accepted and self.deflate is not None:
                self.deflate.finalize(accepted)
                extensions.append(self.deflate)
            self.ws = Connection(ConnectionType.CLIENT, extensions=extensions)
        return st

    def send(self, message, chunk=None):
        data = self.ws.send(BytesMessage(data=message) if isinstance(message, bytes)
                            else TextMessage(data=message))
        self.send_raw(data, chunk)

    def send_raw(self, data, chunk=None):
        if chunk is None:
            self.client.send_body(self.stream_id, data, end_stream=False)
        else:
            for i in range(0, len(data), chunk):
                self.client.send_body(self.stream_id, data[i:i + chunk], end_stream=False)

    def ping(self, payload=b"p"):
        self.send_raw(self.ws.send(Ping(payload=payload)))

    def close(self, code=1000, reason=""):
        self.send_raw(self.ws.send(CloseConnection(code=code, reason=reason)))

    def _events(self):
        st = self.result
        new = bytes(st.data[self._fed:])
        self._fed = len(st.data)
        if new:
            self.ws.receive_data(new)
        return list(self.ws.events())

    def poll(self):
        """The next complete wsproto event from what has arrived (no reading), or None."""
        if not hasattr(self, "_queue"):
            self._queue, self._parts = [], []
        self._queue.extend(self._events())
        while self._queue:
            ev = self._queue.pop(0)
            if isinstance(ev, Message):
                self._parts.append(ev.data)
                if ev.message_finished:
                    kind = type(ev)
                    joined = ("" if kind is TextMessage else b"").join(self._parts)
                    self._parts = []
                    return kind(data=joined)
                continue
            if isinstance(ev, CloseConnection):
                self.closed_by_peer = ev
            return ev
        return None

    def next_event(self, timeout=5.0):
        """The next wsproto event (whole messages are joined); TimeoutError if none."""
        deadline = time.monotonic() + timeout
        while True:
            ev = self.poll()
            if ev is not None:
                return ev
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no WebSocket event")
            st = self.result
            if st.done and len(st.data) == self._fed:
                raise ConnectionError(f"stream ended: reset={st.reset} ended={st.ended}")
            if self.client.closed and len(st.data) == self._fed:  # read_events would return at once
                raise ConnectionError("connection closed by the peer")
            size = len(st.data)
            self.client.read_events(until=lambda c, st=st, size=size: len(st.data) > size or st.done,
                                    timeout=left, raise_on_timeout=False)

    def recv(self, timeout=5.0):
        """The next message (str/bytes), skipping pongs."""
        while True:
            ev = self.next_event(timeout)
            if isinstance(ev, (TextMessage, BytesMessage)):
                return ev.data
            if isinstance(ev, CloseConnection):
                return ev
            if isinstance(ev, Pong):
                continue
            if isinstance(ev, Ping):
                self.send_raw(self.ws.send(ev.response()))


def stream_events(client, stream_id):
    return [e for e in client.events if getattr(e, "stream_id", None) == stream_id
            and not isinstance(e, h2.events.WindowUpdated)]
