"""Operations: what production asks of a server besides serving. Metrics (Prometheus), health and
readiness, the control socket and `greenh2ctl`, systemd integration, structured logs, reload.

`greenh2.ops` observes the serving layers through `greenh2.observe` (an observer it installs and
the shared serving state); it never reaches into a protocol's state.
"""
