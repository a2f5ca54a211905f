"""HTTP/2 (RFC 9113, RFC 7541): the sans-IO engine that owns `h2.H2Connection` (`engine`), the
frame-header scanner (`inbound`), flood budgets (`limits`), the RFC rules h2 leaves to servers
(`rules`), and on the gevent side the session (one reader, one writer) and the per-stream state.
"""
