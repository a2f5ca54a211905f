"""WebSocket test applications: flask-sock routes, a gevent-websocket style echo, and a page
for the headless browser test (``ws_apps:app`` with tests/ on sys.path).

Routes:
  /sock/echo      flask-sock (simple-websocket) echo, unchanged flask-sock code
  /sock/info      flask-sock: sends one JSON text with what the server saw, then echoes
  /ws/echo        gevent-websocket style echo on environ['wsgi.websocket']
  /browser        HTML page: opens a WebSocket to its own origin (path from ?ws=), sends N
                  messages at once, checks the echoes come back in order, POSTs the result
  /result         the page's POST target; GET /report returns what the page and the
                  WebSocket routes recorded (JSON)
  /plain          an ordinary route: an upgrade request to it gets an ordinary response
"""
import json
import sys
import threading

from flask import Flask, Response, request
from flask_sock import Sock

app = Flask(__name__)
sock = Sock(app)
_lock = threading.Lock()
RECORDS = {"websockets": [], "results": []}

_WS_KEYS = ("REQUEST_METHOD", "SERVER_PROTOCOL", "PATH_INFO", "HTTP_UPGRADE",
            "HTTP_CONNECTION", "HTTP_SEC_WEBSOCKET_VERSION", "wsgi.url_scheme",
            "greenh2.protocol", "greenh2.stream_id", "greenh2.alpn")


def _record_ws(environ, route):
    seen = {key: environ.get(key) for key in _WS_KEYS}
    seen["route"] = route
    # the WebSocket's byte pipe: "h2" is an RFC 8441 CONNECT stream, "http/1.1" the connection
    seen["pipe"] = getattr(environ.get("greenh2.websocket_pipe"), "transport", None)
    seen["greenh2_keys"] = sorted(k for k in environ if k.startswith("greenh2."))
    with _lock:
        RECORDS["websockets"].append(seen)
    return seen


@sock.route("/sock/echo")
def sock_echo(ws):
    _record_ws(request.environ, "sock/echo")
    while True:
        data = ws.receive()
        ws.send(data)


@sock.route("/sock/info")
def sock_info(ws):
    seen = _record_ws(request.environ, "sock/info")
    ws.send(json.dumps(seen))
    while True:
        ws.send(ws.receive())


@app.route("/ws/echo", websocket=True)  # werkzeug routes upgrade requests only to these
def ws_echo():
    ws = request.environ.get("wsgi.websocket")
    if ws is None:
        return Response("WebSocket only\n", status=400, mimetype="text/plain")
    _record_ws(request.environ, "ws/echo")
    count = 0
    while True:
        message = ws.receive()
        if message is None:
            break
        ws.send(message)
        count += 1
    with _lock:
        RECORDS["websockets"][-1]["echoed"] = count
    return Response(status=200)


@app.route("/plain")
def plain():
    return Response("plain answer\n", mimetype="text/plain")


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>greenh2 ws test</title></head>
<body><pre id="out">running</pre>
<script>
const params = new URLSearchParams(location.search);
const path = params.get("ws") || "/ws/echo";
const total = parseInt(params.get("n") || "1000", 10);
const scheme = location.protocol === "https:" ? "wss://" : "ws://";
const started = performance.now();
let next = 0, reported = false;
function report(result) {
  if (reported) return;
  reported = true;
  result.path = path; result.received = next; result.total = total;
  result.ms = Math.round(performance.now() - started);
  document.getElementById("out").textContent = JSON.stringify(result);
  fetch("/result", {method: "POST", headers: {"content-type": "application/json"},
                    body: JSON.stringify(result)});
}
const ws = new WebSocket(scheme + location.host + path);
ws.onopen = () => { for (let i = 0; i < total; i++) ws.send("message " + i); };
ws.onmessage = (event) => {
  if (event.data !== "message " + next) {
    report({ok: false, error: "out of order: got " + event.data + " expected message " + next});
    return;
  }
  next += 1;
  if (next === total) { ws.close(1000, "done"); report({ok: true}); }
};
ws.onerror = () => report({ok: false, error: "websocket error"});
ws.onclose = (event) => { if (next < total) report({ok: false, error: "closed " + event.code}); };
setTimeout(() => report({ok: false, error: "page timeout"}), 20000);
</script></body></html>
"""


@app.route("/browser")
def browser():
    return Response(PAGE, mimetype="text/html")


@app.route("/result", methods=["POST"])
def result():
    body = request.get_json(force=True)
    body["protocol"] = request.environ.get("greenh2.protocol")
    with _lock:
        RECORDS["results"].append(body)
    return Response("ok\n", mimetype="text/plain")


@app.route("/report")
def report():
    with _lock:
        return Response(json.dumps(RECORDS), mimetype="application/json")


# flask-sock with simple-websocket's own keep-alive pings (it selects on the socket: fileno)
# and subprotocol negotiation.
ping_app = Flask("ping_app")
ping_app.config["SOCK_SERVER_OPTIONS"] = {"ping_interval": 0.3, "subprotocols": ["chat.v1"]}
ping_sock = Sock(ping_app)


@ping_sock.route("/sock/echo")
def ping_echo(ws):
    while True:
        ws.send(ws.receive())


# A flask-sock route whose loop must end with the close a graceful stop sends (1001).
@sock.route("/sock/until-closed")
def sock_until_closed(ws):
    from flask_sock import ConnectionClosed
    try:
        while True:
            ws.send(ws.receive())
    except ConnectionClosed as exc:
        print(f"route saw close {exc.reason}", file=sys.stderr, flush=True)  # the test reads it
        raise


@sock.route("/sock/once")
def sock_once(ws):
    """Says one thing and returns: flask-sock then closes (1000), the server ends the stream."""
    ws.send("bye")
