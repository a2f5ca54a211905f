"""Attack tests: each mounts a known HTTP/2 or HTTP/1.1 attack against a live greenh2 server."""
