"""The soak's SIGKILL attribution (attribution.py) on made-up evidence: it excuses only what was
in flight on the killed worker, and refuses every other loss. Fast, no servers: runs in the
ordinary suite (no soak marker), so the rule the soak relies on cannot quietly go lax."""
from .attribution import attribute, read_haproxy, read_traces

KILL = {"t": 1000.0, "pid": 41, "backend": 1, "haproxy_in_flight": 2}  # a worker of app2
LOG = ('<6>127.0.0.1:5000 [04/Dec/2026:19:00:00.000] soak greenh2/{server} 0/0/0/-1/{ta} {status} 0 '
       '{tsc} 9/9/1/1/0 0/0 "GET /sleep?s=0.2&id={rid} HTTP/1.1" soak:{accept:.3f}/0/0/{logged}')


def _log(rid, server="app2", status=502, tsc="SH--", accept=999.9, end=1000.01):
    return LOG.format(server=server, ta=int((end - accept) * 1000), status=status, tsc=tsc, rid=rid,
                      accept=accept, logged=int(end * 1000))


def _loss(rid, t=1000.02, kind="http1"):
    return {"t": t, "kind": kind, "id": rid, "reason": "RemoteDisconnected"}


def _verdict(lost, traces, log_lines, kills=(KILL,)):
    return attribute(lost, list(kills), traces, read_haproxy("\n".join(log_lines)))


def test_in_flight_on_the_killed_worker_is_excused():
    traces = {"a": [("b", 41, 999.9)], "b": [("b", 41, 999.95)]}
    v = _verdict([_loss("a"), _loss("b")], traces, [_log("a")])  # b: HAProxy closed silently
    assert [e["id"] for e in v["excused"]] == ["a", "b"] and not v["unexcused"]
    assert v["per_kill"] == {0: 2} and not v["over_cap"]


def test_what_never_reached_an_app_is_excused_on_the_killed_server_only():
    v = _verdict([_loss("a"), _loss("b")], {}, [_log("a"), _log("b", server="app3")])
    assert [e["id"] for e in v["excused"]] == ["a"]
    assert [u["id"] for u in v["unexcused"]] == ["b"]


def test_a_loss_on_the_sibling_worker_is_not_excused():
    v = _verdict([_loss("a")], {"a": [("b", 42, 999.9)]}, [_log("a")])
    assert not v["excused"] and "pid(s) [42]" in v["unexcused"][0]["why"][0]


def test_a_response_haproxy_completed_is_not_excused():
    v = _verdict([_loss("a")], {"a": [("b", 41, 999.9)]}, [_log("a", status=200, tsc="----")])
    assert not v["excused"]


def test_a_response_finished_long_before_the_kill_is_not_excused():
    v = _verdict([_loss("a")], {"a": [("b", 41, 997.0), ("e", 41, 998.5)]}, [])
    assert not v["excused"] and "finished it" in v["unexcused"][0]["why"][0]


def test_a_loss_seen_outside_the_window_is_not_excused():
    v = _verdict([_loss("a", t=1005.0), _loss("b", t=999.0)],
                 {"a": [("b", 41, 999.9)], "b": [("b", 41, 998.9)]}, [])
    assert not v["excused"] and len(v["unexcused"]) == 2


def test_a_websocket_tunnel_must_end_at_the_kill():
    traces = {"w1": [("b", 41, 990.0)], "w2": [("b", 41, 990.0)]}
    lines = [_log("w1", status=101, tsc="----", accept=990.0, end=1000.01),
             _log("w2", status=101, tsc="----", accept=990.0, end=1004.0)]
    v = _verdict([_loss("w1", kind="ws-http1"), _loss("w2", t=1001.0, kind="ws-http1")], traces, lines)
    assert [e["id"] for e in v["excused"]] == ["w1"] and [u["id"] for u in v["unexcused"]] == ["w2"]


def test_more_excused_than_haproxy_had_in_flight_is_reported():
    traces = {r: [("b", 41, 999.9)] for r in "abc"}
    v = _verdict([_loss(r) for r in "abc"], traces, [])
    assert v["over_cap"] == [{"kill": 0, "excused": 3, "traced": 3, "haproxy_in_flight": 2}]


def test_more_untraced_than_one_burst_is_reported():
    v = _verdict([_loss("u%d" % i) for i in range(7)], {}, [])
    assert v["over_cap"] == [{"kill": 0, "excused": 7, "traced": 0, "haproxy_in_flight": 2}]
    assert not _verdict([_loss("u%d" % i) for i in range(6)], {}, [])["over_cap"]


def test_untraced_and_unlogged_only_right_after_the_kill():
    v = _verdict([_loss("a", t=1000.3), _loss("b", t=1001.5)], {}, [])
    assert [e["id"] for e in v["excused"]] == ["a"] and "no trace" in v["unexcused"][0]["why"][0]


def test_a_client_that_failed_is_never_excused():
    v = _verdict([{"t": 1000.01, "kind": "client ws20", "id": None, "reason": "Traceback ..."}], {}, [])
    assert not v["excused"] and "a client failed" in v["unexcused"][0]["why"][0]


def test_without_a_kill_nothing_is_excused():
    v = _verdict([_loss("a")], {"a": [("b", 41, 999.9)]}, [], kills=())
    assert not v["excused"] and v["unexcused"][0]["why"] == ["no SIGKILL before it"]


def test_trace_files_are_read_and_a_torn_last_line_is_skipped(tmp_path):
    (tmp_path / "41.trace").write_text("b a 999.900000\ne a 999.950000\nb b 99")
    assert read_traces(tmp_path) == {"a": [("b", 41, 999.9), ("e", 41, 999.95)]}


def test_haproxy_lines_are_parsed():
    [line] = read_haproxy(_log("a", accept=999.9, end=1000.01))["a"]
    assert line == {"server": "app2", "status": 502, "tsc": "SH--", "start": 999.9, "end": 1000.01}
