"""WebSocket (RFC 6455, RFC 7692, RFC 8441): one layer on wsproto that runs over an HTTP/1.1
socket after `101 Switching Protocols` or over an HTTP/2 extended-CONNECT stream.
"""
