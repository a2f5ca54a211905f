"""grpcio at full speed against examples/grpc on greenh2: 4 client threads, each keeping 8 unary
calls in flight on one channel for 25 s. grpcio's ordinary flow-control traffic (a stream and a
connection WINDOW_UPDATE per response, BDP pings) must never trip a flood limit: no GOAWAY, no
failed call (before the earned budgets of http2/limits.py, the window bucket tripped after
~10 s at ~1,500 calls/s). This one test takes ~25 s on purpose."""
import pytest
from support import grpc_client
from support.server import ServerProcess

pytestmark = pytest.mark.timeout(90)


def test_grpcio_full_speed_never_trips_a_flood_limit():
    with ServerProcess(["--log-level", "debug", "examples.grpc.app:app"]) as srv:
        chan = grpc_client.channel(srv.port)
        try:
            load = grpc_client.Load(chan, threads=4, in_flight=8, seconds=25).run()
        finally:
            chan.close()
        log = srv.stderr_text()
    assert load.errors == {}, load.errors
    assert load.ok > 0
    assert "flood" not in log and "ENHANCE_YOUR_CALM" not in log, log[-3000:]
    print("grpcio unary calls: %d in 25 s (%.0f/s)" % (load.ok, load.ok / 25))
