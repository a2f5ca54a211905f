"""RFC 9113 / RFC 7541 conformance tests against a live greenh2 server (raw frames)."""
