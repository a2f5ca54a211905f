"""examples/grpc under `gunicorn -k greenh2.worker`, called by grpcio over h2c and TLS: the
same checks as tests/integration/test_grpc.py (tests/support/grpc_client.py), one arbiter per
transport. One worker, so the Sleep handler's record is in the process Report asks."""
import pytest
from support import grpc_client

pytestmark = pytest.mark.timeout(90)
APP = "examples.grpc.app:app"


@pytest.mark.parametrize("transport", ["h2c", "tls"])
def test_grpc_example_under_gunicorn(gunicorn, certs, transport):
    tls = certs if transport == "tls" else None
    g = gunicorn(app=APP, workers=1, tls=tls)
    chan = grpc_client.channel(g.port, certs.certfile if tls else None)
    try:
        s = grpc_client.stub(chan)
        for name in sorted(grpc_client.ALL):
            grpc_client.ALL[name](s)
        grpc_client.check_deadline_stops_the_handler(s, key="gunicorn-" + transport)
    finally:
        chan.close()
    assert "Traceback" not in g.log_text(), g.log_text()[-3000:]
