"""WebSocket for WSGI apps over HTTP/1.1 (RFC 6455) and HTTP/2 (RFC 8441), on wsproto.

One layer for both transports: it runs over a `Pipe` (pipe.py) that `greenh2.http1` implements
over the connection after `101 Switching Protocols` and `greenh2.http2` over an extended-CONNECT
stream. The layer sits below http1/http2 and above wsgi: the protocols import it, never the
reverse.

What an application sees (README: WebSocket):
* ``environ['wsgi.websocket']``: a `WebSocket` with gevent-websocket's interface (`receive()`,
  `send(message, binary=None)`, `close(code=1000, reason='')`, `closed`, `path`, `origin`,
  `version`, `protocol`), plus `accept(subprotocol=None)`. The handshake response goes out on
  first use, so an app that does not handle WebSockets can still answer with an ordinary response.
* ``environ['wsgi.websocket_version']`` == "13".
* ``environ['greenh2.websocket_pipe']``: the raw `GuardedPipe` for libraries that run their own
  WebSocket protocol object (simple-websocket, flask-sock): ``accept(headers)`` sends the
  handshake response (101 on HTTP/1.1, with the Upgrade/Connection/Sec-WebSocket-Accept fields
  given; :status 200 on HTTP/2, where those fields must be left out), then ``recv(timeout)``
  -> bytes (b"" at the end, None on timeout), ``send(bytes)``, ``close()``; ``transport`` is
  "http/1.1" or "h2". Use either the pipe or ``wsgi.websocket``, not both.
"""
from greenh2.websocket.handshake import Offer, Refusal, as_upgrade_get, h1_offer, h2_offer, wants_websocket
from greenh2.websocket.pipe import GuardedPipe, Pipe, PipeClosed
from greenh2.websocket.socket import WebSocket, WebSocketError
from greenh2.websocket.upgrade import TakeoverSink, WebSocketRequest

__all__ = ["GuardedPipe", "Offer", "Pipe", "PipeClosed", "Refusal", "TakeoverSink", "WebSocket",
           "WebSocketError", "WebSocketRequest", "as_upgrade_get", "h1_offer", "h2_offer",
           "wants_websocket"]
