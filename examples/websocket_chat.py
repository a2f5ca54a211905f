"""A chat room with flask-sock: every message a browser sends is broadcast to every connected
browser. The flask-sock route is ordinary flask-sock code; greenh2 runs it unchanged over
HTTP/1.1 and over HTTP/2 (RFC 8441: the browser opens the WebSocket on the page's own HTTP/2
connection). The page opens `wss://` (or `ws://` on cleartext) to its own origin.

    greenh2 --self-signed -b 127.0.0.1:8443 examples.websocket_chat:app
    gunicorn -k greenh2.worker --certfile cert.pem --keyfile key.pem examples.websocket_chat:app

    then open https://127.0.0.1:8443/ in two browser tabs.
"""
import threading

from flask import Flask, Response
from flask_sock import ConnectionClosed, Sock

app = Flask(__name__)
sock = Sock(app)
_clients: set = set()
_lock = threading.Lock()

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>greenh2 chat</title></head>
<body><h1>chat</h1>
<form id="f"><input id="m" autocomplete="off" placeholder="say something"><button>send</button></form>
<pre id="log"></pre>
<script>
const log = (line) => { document.getElementById("log").textContent += line + "\\n"; };
const scheme = location.protocol === "https:" ? "wss://" : "ws://";
const ws = new WebSocket(scheme + location.host + "/chat");
ws.onopen = () => log("* connected");
ws.onmessage = (e) => log(e.data);
ws.onclose = (e) => log("* disconnected (" + e.code + ")");
document.getElementById("f").onsubmit = (e) => {
  e.preventDefault();
  const input = document.getElementById("m");
  if (input.value) { ws.send(input.value); input.value = ""; }
};
</script></body></html>
"""


@app.get("/")
def index():
    return Response(PAGE, mimetype="text/html")


def broadcast(message: str) -> None:
    with _lock:
        clients = list(_clients)
    for client in clients:
        try:
            client.send(message)
        except ConnectionClosed:
            with _lock:
                _clients.discard(client)


@sock.route("/chat")
def chat(ws):
    with _lock:
        _clients.add(ws)
    try:
        while True:
            message = ws.receive()
            broadcast(message)
    finally:
        with _lock:
            _clients.discard(ws)
