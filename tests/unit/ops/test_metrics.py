"""PrometheusObserver in-process (a private registry): label sets stay bounded, error codes get
their RFC 9113 names, connections and streams balance, the generic event entry counts
WebSockets, and the sans-IO engine reports its limits through the observer."""
import pytest
from h2.errors import ErrorCodes
from prometheus_client import CollectorRegistry

from greenh2 import observe
from greenh2.config import Config
from greenh2.ops.metrics import Metrics, PrometheusObserver, error_name


@pytest.fixture
def obs():
    registry = CollectorRegistry()
    observer = PrometheusObserver(Metrics(registry))
    previous = observe.OBSERVER
    observe.install(observer)
    yield observer, registry
    observe.install(previous)


def value(registry, metric, **labels):
    observe.OBSERVER.flush()  # request tallies reach prometheus_client in bulk
    got = registry.get_sample_value(metric, labels)
    return 0.0 if got is None else got


def test_requests_by_protocol_method_and_status_class(obs):
    o, reg = obs
    o.request_done("h2", "GET", 200, 0.002, 0, 14)
    o.request_done("h2", "GET", 204, 0.5, 10, 0)
    o.request_done("http/1.1", "BREW", 418, 0.1, 0, 5)
    o.request_done("http/1.1", "POST", 0, 0.1, 7, 0)
    assert value(reg, "greenh2_requests_total", protocol="h2", method="GET", status="2xx") == 2
    assert value(reg, "greenh2_requests_total", protocol="http/1.1", method="OTHER",
                 status="4xx") == 1
    assert value(reg, "greenh2_requests_total", protocol="http/1.1", method="POST",
                 status="none") == 1
    assert value(reg, "greenh2_request_duration_seconds_count", protocol="h2") == 2
    assert value(reg, "greenh2_request_duration_seconds_bucket", protocol="h2", le="0.0025") == 1
    assert value(reg, "greenh2_request_bytes_total", protocol="h2") == 10
    assert value(reg, "greenh2_request_bytes_total", protocol="http/1.1") == 7
    assert value(reg, "greenh2_response_bytes_total", protocol="h2") == 14


def test_label_cardinality_is_bounded(obs):
    o, reg = obs
    for i in range(300):
        o.request_done("h2", "X%d" % i, 200 + i % 400, 0.0, 0, 0)
        o.reset(False, 1000 + i)  # error codes a client invents
    o.flush()
    methods = {s.labels["method"] for m in reg.collect() for s in m.samples
               if s.name == "greenh2_requests_total"}
    assert methods == {"OTHER"}
    codes = {s.labels["code"] for m in reg.collect() for s in m.samples
             if s.name == "greenh2_resets_total"}
    assert codes == {"UNKNOWN"}


def test_connections_streams_and_upgrade_balance(obs):
    o, reg = obs
    o.connection_opened("http/1.1", False)
    o.connection_upgraded(False)
    o.connection_closed("http/1.1", False)
    o.stream_opened()
    assert value(reg, "greenh2_connections", protocol="h2", tls="false") == 1
    assert value(reg, "greenh2_streams_active") == 1
    o.stream_closed()
    o.connection_closed("h2", False)
    assert value(reg, "greenh2_connections", protocol="h2", tls="false") == 0
    assert value(reg, "greenh2_connections", protocol="http/1.1", tls="false") == 0
    assert value(reg, "greenh2_connections_accepted_total", protocol="http/1.1", tls="false") == 1
    assert value(reg, "greenh2_connections_accepted_total", protocol="h2", tls="false") == 0


def test_websocket_events_and_generic_event(obs):
    o, reg = obs
    o.event("websocket_opened", protocol="h2")
    o.event("websocket_opened", protocol="http/1.1")
    o.event("websocket_closed", protocol="h2")
    o.event("something_else", detail="x")
    assert value(reg, "greenh2_websockets", protocol="h2") == 0
    assert value(reg, "greenh2_websockets", protocol="http/1.1") == 1
    assert value(reg, "greenh2_events_total", name="something_else") == 1


def test_error_names():
    assert error_name(ErrorCodes.REFUSED_STREAM) == "REFUSED_STREAM"
    assert error_name(0) == "NO_ERROR"
    assert error_name(0xBAD) == "UNKNOWN"


def test_engine_reports_ping_flood_and_goaway(obs):
    """The sans-IO engine calls the observer: a PING flood trips the ping limit, and the
    GOAWAY(ENHANCE_YOUR_CALM) it sends is counted."""
    import h2.config
    import h2.connection

    from greenh2.http2.engine import ConnectionEnd, Engine
    o, reg = obs
    engine = Engine(Config())
    engine.start()
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    engine.receive(client.data_to_send())
    for i in range(200):
        client.ping(i.to_bytes(8, "big"))
    with pytest.raises(ConnectionEnd):
        engine.receive(client.data_to_send())
    assert value(reg, "greenh2_limit_trips_total", limit="ping") == 1
    assert value(reg, "greenh2_goaways_total", direction="sent", code="ENHANCE_YOUR_CALM") == 1


def test_engine_counts_sent_resets(obs):
    import h2.config
    import h2.connection

    from greenh2.http2.engine import Engine
    o, reg = obs
    engine = Engine(Config())
    engine.start()
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    client.send_headers(1, [(":method", "GET"), (":scheme", "http"), (":authority", "x"),
                            (":path", "/")], end_stream=True)
    engine.receive(client.data_to_send())
    engine.reset_stream(1, ErrorCodes.REFUSED_STREAM)
    assert value(reg, "greenh2_resets_total", direction="sent", code="REFUSED_STREAM") == 1


def test_flush_passes_on_only_changes(obs):
    """Bulk flushes add up to exactly what per-request observation would have counted."""
    o, reg = obs
    for d in (0.0005, 0.003, 0.003, 7.0):
        o.request_done("h2", "GET", 200, d, 1, 2)
    o.stream_opened()
    o.flush()
    o.flush()  # nothing new: nothing added twice
    o.request_done("h2", "GET", 200, 100.0, 0, 0)
    o.stream_closed()
    assert value(reg, "greenh2_requests_total", protocol="h2", method="GET", status="2xx") == 5
    assert value(reg, "greenh2_request_duration_seconds_bucket", protocol="h2", le="0.001") == 1
    assert value(reg, "greenh2_request_duration_seconds_bucket", protocol="h2", le="0.005") == 3
    assert value(reg, "greenh2_request_duration_seconds_bucket", protocol="h2", le="10.0") == 4
    assert value(reg, "greenh2_request_duration_seconds_bucket", protocol="h2", le="+Inf") == 5
    assert value(reg, "greenh2_request_duration_seconds_sum", protocol="h2") == \
        pytest.approx(107.0065)
    assert value(reg, "greenh2_request_bytes_total", protocol="h2") == 4
    assert value(reg, "greenh2_response_bytes_total", protocol="h2") == 8
    assert value(reg, "greenh2_streams_active") == 0


@pytest.mark.parametrize("frame, limit", [
    # a DATA frame header announcing 2^24-1 octets (> SETTINGS_MAX_FRAME_SIZE)
    ((2**24 - 1).to_bytes(3, "big") + b"\x00\x00\x00\x00\x00\x01", "frame_size"),
    # HEADERS without END_HEADERS, then 40 CONTINUATION frames (> 32)
    (b"\x00\x00\x01\x01\x00\x00\x00\x00\x01\x82"
     + b"\x00\x00\x01\x09\x00\x00\x00\x00\x01\x82" * 40, "continuation"),
])
def test_engine_reports_frame_limits(obs, frame, limit):
    import h2.config
    import h2.connection

    from greenh2.http2.engine import ConnectionEnd, Engine
    o, reg = obs
    engine = Engine(Config())
    engine.start()
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    engine.receive(client.data_to_send())
    with pytest.raises(ConnectionEnd):
        engine.receive(frame)
    assert value(reg, "greenh2_limit_trips_total", limit=limit) == 1
