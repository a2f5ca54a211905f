"""HTTP/1.1 and HTTP/1.0 (RFC 9112): request-head parsing (`message`), message bodies both ways
(`body`) and the keep-alive connection loop with the h2c upgrade hand-off (`connection`).
"""
