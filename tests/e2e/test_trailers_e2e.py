"""End-to-end: trailers under a real gunicorn arbiter with ``-k greenh2.worker`` (the same code
as the standalone server): an app using gunicorn's own ``gunicorn.http2.send_trailers`` name,
request trailers on HTTP/2, and a chunked trailer section on HTTP/1.1."""
import json

import pytest
from support import http1
from support.h2raw import H2Client

pytestmark = pytest.mark.timeout(60)
GRPC_TRAILERS = [("grpc-status", "0"), ("grpc-message", "all good")]


def test_trailers_both_ways_under_gunicorn(gunicorn, certs):
    g = gunicorn(app="trailers_app:app", workers=1, tls=certs, ready_path="/fast")
    client = H2Client("127.0.0.1", g.port, tls=True)
    try:
        st = client.wait_stream(client.get("/grpc?n=3"))
        assert st.status == 200 and st.trailers == GRPC_TRAILERS
        frames = [(name, flags) for name, flags, sid, _ in client.frames if sid == st.stream_id]
        assert frames[-1] == ("HEADERS", 0x5) and all(not f & 1 for n, f in frames[:-1]), frames
        sid = client.send_headers(client.request_headers("POST", "/request-trailers"),
                                  end_stream=False)
        client.send_data(sid, b"hello")
        client.conn.send_headers(sid, [("x-checksum", "7")], end_stream=True)
        client.flush()
        got = json.loads(bytes(client.wait_stream(sid).data))
        assert got["before"] is None and got["after"] == [["x-checksum", "7"]]
    finally:
        client.close()
    resp = http1.simple(g.port, "GET", "/grpc?n=1", headers=[("TE", "trailers")], tls=True)
    assert resp.body == b"message 0\n" and resp.trailers == GRPC_TRAILERS
