"""A raw-frame HTTP/2 test client on top of the ``h2`` client state machine.

Incoming bytes are split into frames and fed to h2 one frame at a time, so
every frame is recorded (``self.frames``) and so the client can keep
receiving frames after a GOAWAY (h2 itself would move to CLOSED and reject
the DATA of in-flight streams; we re-open its state machine when
``keep_open_after_goaway`` is set, which is what a real client needs).
"""
import socket
import ssl
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.connection import ConnectionState
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hyperframe.frame import Frame

FRAME_NAMES = {
    0x0: "DATA", 0x1: "HEADERS", 0x2: "PRIORITY", 0x3: "RST_STREAM",
    0x4: "SETTINGS", 0x5: "PUSH_PROMISE", 0x6: "PING", 0x7: "GOAWAY",
    0x8: "WINDOW_UPDATE", 0x9: "CONTINUATION",
}


class StreamResult:
    def __init__(self, stream_id):
        self.stream_id = stream_id
        self.headers = None          # final response headers (list of (str, str))
        self.informational = []      # list of header lists of 1xx responses
        self.trailers = None
        self.data = bytearray()
        self.ended = False           # END_STREAM received
        self.reset = None            # error code of RST_STREAM from the server
        self.first_byte_at = None
        self.ended_at = None

    @property
    def status(self):
        if self.headers is None:
            return None
        return int(self.header(":status"))

    def header(self, name, default=None):
        for k, v in self.headers or ():
            if k == name:
                return v
        return default

    def header_all(self, name):
        return [v for k, v in (self.headers or ()) if k == name]

    @property
    def done(self):
        return self.ended or self.reset is not None

    def __repr__(self):
        return "<Stream %d status=%s len=%d ended=%s reset=%s>" % (
            self.stream_id, self.status, len(self.data), self.ended, self.reset)


def client_ssl_context(alpn=("h2",), cafile=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
        ctx.check_hostname = True
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


class H2Client:
    def __init__(self, host, port, tls=False, alpn=("h2",), timeout=10.0,
                 local_settings=None, auto_ack=True, preface=True,
                 server_hostname="localhost", keep_open_after_goaway=True,
                 wait_settings=True, cafile=None):
        self.host = host
        self.port = port
        self.authority = "%s:%d" % (("[%s]" % host) if ":" in host else host, port)
        self.scheme = "https" if tls else "http"
        self.auto_ack = auto_ack
        self.keep_open_after_goaway = keep_open_after_goaway
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.alpn = None
        if tls:
            ctx = client_ssl_context(alpn, cafile)
            self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
            self.alpn = self.sock.selected_alpn_protocol()
        config = h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8",
            validate_inbound_headers=False, normalize_inbound_headers=False)
        self.conn = h2.connection.H2Connection(config=config)
        self.streams = {}
        self.events = []
        self.frames = []            # (name, flags, stream_id, length) of received frames
        self.settings_frames = []   # dicts of received non-ACK SETTINGS frames
        self.goaway = None          # ConnectionTerminated event
        self.closed = False         # peer closed the TCP connection
        self._buf = bytearray()
        if preface:
            self.conn.initiate_connection()
            if local_settings:
                self.conn.update_settings(local_settings)
            self.flush()
            if wait_settings:
                self.read_events(until=lambda c: len(c.settings_frames) >= 1, timeout=timeout)

    # -- context manager ---------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- sending -------------------------------------------------------------
    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def send_raw(self, data):
        self.sock.sendall(data)

    @property
    def remote_settings(self):
        return self.conn.remote_settings

    def request_headers(self, method, path, extra=None, authority=None):
        h = [(":method", method), (":scheme", self.scheme),
             (":authority", authority or self.authority), (":path", path)]
        if extra:
            h.extend(extra)
        return h

    def send_headers(self, headers, end_stream=False, stream_id=None):
        sid = stream_id or self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, headers, end_stream=end_stream)
        self.streams[sid] = StreamResult(sid)
        self.flush()
        return sid

    def request(self, method, path, headers=None, body=None, end_stream=True,
                authority=None):
        """Open a stream. With *body*, data is sent (respecting flow control)."""
        hdrs = self.request_headers(method, path, headers, authority)
        if body is None:
            return self.send_headers(hdrs, end_stream=end_stream)
        sid = self.send_headers(hdrs, end_stream=False)
        self.send_body(sid, body, end_stream=end_stream)
        return sid

    def get(self, path, headers=None):
        return self.request("GET", path, headers)

    def send_data(self, stream_id, data, end_stream=False):
        self.conn.send_data(stream_id, data, end_stream=end_stream)
        self.flush()

    def send_body(self, stream_id, body, end_stream=True, timeout=30.0):
        """Send *body*, waiting for WINDOW_UPDATEs as needed."""
        view = memoryview(body)
        deadline = time.monotonic() + timeout
        while len(view):
            window = min(self.conn.local_flow_control_window(stream_id),
                         self.conn.max_outbound_frame_size)
            if window <= 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("flow-control window never opened for stream %d" % stream_id)
                self.read_events(
                    until=lambda c: c.conn.local_flow_control_window(stream_id) > 0
                    or c.streams[stream_id].done or c.closed,
                    timeout=remaining)
                if self.streams[stream_id].done or self.closed:
                    return
                continue
            chunk = view[:window]
            view = view[window:]
            self.conn.send_data(stream_id, bytes(chunk),
                                end_stream=end_stream and not len(view))
            self.flush()
        if end_stream and not len(body):
            self.conn.end_stream(stream_id)
            self.flush()

    def end_stream(self, stream_id):
        self.conn.end_stream(stream_id)
        self.flush()

    def reset_stream(self, stream_id, error_code=ErrorCodes.CANCEL):
        self.conn.reset_stream(stream_id, error_code=error_code)
        self.flush()

    def ping(self, payload=b"12345678"):
        self.conn.ping(payload)
        self.flush()

    def send_goaway(self, error_code=ErrorCodes.NO_ERROR, last_stream_id=None):
        self.conn.close_connection(error_code=error_code, last_stream_id=last_stream_id)
        self.flush()
        if self.keep_open_after_goaway:
            self.conn.state_machine.state = ConnectionState.CLIENT_OPEN

    def acknowledge(self, stream_id, nbytes):
        """Return flow-control credit (WINDOW_UPDATE) manually."""
        try:
            self.conn.acknowledge_received_data(nbytes, stream_id)
        except h2.exceptions.StreamClosedError:
            pass
        self.flush()

    def force_stream_limit(self, n=10**6):
        """Pretend the peer allows *n* concurrent streams (to test REFUSED_STREAM)."""
        self.conn.remote_settings[SettingCodes.MAX_CONCURRENT_STREAMS] = n
        self.conn.remote_settings.acknowledge()

    # -- receiving -------------------------------------------------------------
    def _handle(self, ev):
        self.events.append(ev)
        sid = getattr(ev, "stream_id", None)
        st = self.streams.get(sid) if sid else None
        now = time.monotonic()
        if isinstance(ev, h2.events.InformationalResponseReceived):
            st.informational.append(list(ev.headers))
        elif isinstance(ev, h2.events.ResponseReceived):
            st.headers = list(ev.headers)
            st.first_byte_at = st.first_byte_at or now
        elif isinstance(ev, h2.events.TrailersReceived):
            st.trailers = list(ev.headers)
        elif isinstance(ev, h2.events.DataReceived):
            if st is not None:
                st.data += ev.data
            if self.auto_ack and ev.flow_controlled_length:
                try:
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                    pass
        elif isinstance(ev, h2.events.StreamEnded):
            if st is not None:
                st.ended = True
                st.ended_at = now
        elif isinstance(ev, h2.events.StreamReset):
            if st is not None:
                st.reset = ev.error_code
                st.ended_at = now
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway = ev
        elif isinstance(ev, h2.events.RemoteSettingsChanged):
            pass

    def _feed(self, data):
        self._buf += data
        while len(self._buf) >= 9:
            length = int.from_bytes(self._buf[:3], "big")
            if len(self._buf) < 9 + length:
                break
            raw = bytes(self._buf[:9 + length])
            del self._buf[:9 + length]
            ftype, flags, sid = raw[3], raw[4], int.from_bytes(raw[5:9], "big") & 0x7FFFFFFF
            self.frames.append((FRAME_NAMES.get(ftype, hex(ftype)), flags, sid, length))
            if ftype == 0x4 and not flags & 0x1:
                frame, _ = Frame.parse_frame_header(memoryview(raw[:9]))
                frame.parse_body(memoryview(raw[9:]))
                self.settings_frames.append(dict(frame.settings))
            for ev in self.conn.receive_data(raw):
                self._handle(ev)
            if (self.keep_open_after_goaway and ftype == 0x7
                    and self.conn.state_machine.state == ConnectionState.CLOSED):
                self.conn.state_machine.state = ConnectionState.CLIENT_OPEN
        self.flush()

    def read_events(self, until=None, timeout=5.0, raise_on_timeout=True):
        """Receive and process frames until ``until(self)`` is true, the peer
        closes the connection, or *timeout* seconds pass (TimeoutError unless
        ``raise_on_timeout`` is false). Returns the list of new events."""
        start_idx = len(self.events)
        deadline = time.monotonic() + timeout
        while True:
            if until is not None and until(self):
                break
            if self.closed:
                if until is not None and raise_on_timeout:
                    raise ConnectionError(
                        "connection closed by server before condition was met; "
                        "streams=%r goaway=%r" % (self.streams, self.goaway))
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if until is not None and raise_on_timeout:
                    raise TimeoutError("condition not met within %.1fs; streams=%r goaway=%r"
                                       % (timeout, self.streams, self.goaway))
                break
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
                data = b""
            if not data:
                self.closed = True
                continue
            self._feed(data)
        return self.events[start_idx:]

    def wait_streams(self, stream_ids, timeout=10.0):
        ids = list(stream_ids)
        self.read_events(until=lambda c: all(c.streams[i].done for i in ids), timeout=timeout)
        return [self.streams[i] for i in ids]

    def wait_stream(self, stream_id, timeout=10.0):
        return self.wait_streams([stream_id], timeout)[0]

    def wait_closed(self, timeout=5.0):
        self.read_events(until=lambda c: c.closed, timeout=timeout)

    def frame_names(self):
        return [f[0] for f in self.frames]
