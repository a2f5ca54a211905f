"""A gevent-websocket style WebSocket echo: the handler uses `environ['wsgi.websocket']`
(`receive()`, `send()`, `close()`, `closed`), exactly as it would under gevent-websocket's
handler, and greenh2 serves it over HTTP/1.1 (`Upgrade: websocket`, RFC 6455) and over HTTP/2
(extended CONNECT, RFC 8441) alike. An ordinary request gets a small page that echoes through it.

    greenh2 --self-signed -b 127.0.0.1:8443 examples.ws_echo:app
    gunicorn -k greenh2.worker --certfile cert.pem --keyfile key.pem examples.ws_echo:app

    then open https://127.0.0.1:8443/ in a browser, or
    python3 -m websockets --insecure wss://127.0.0.1:8443/     (any WebSocket client)
"""

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>greenh2 echo</title></head>
<body><h1>WebSocket echo</h1>
<form id="f"><input id="m" autocomplete="off" value="hello"><button>send</button></form>
<pre id="log"></pre>
<script>
const log = (line) => { document.getElementById("log").textContent += line + "\\n"; };
const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/");
ws.onopen = () => log("open");
ws.onmessage = (e) => log("echo: " + e.data);
ws.onclose = (e) => log("closed " + e.code);
document.getElementById("f").onsubmit = (e) => {
  e.preventDefault(); ws.send(document.getElementById("m").value);
};
</script></body></html>
"""


def app(environ, start_response):
    ws = environ.get("wsgi.websocket")
    if ws is None:  # not a WebSocket request: serve the page
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                  ("Content-Length", str(len(PAGE)))])
        return [PAGE]
    while True:
        message = ws.receive()  # str for text, bytes for binary, None once the peer closed
        if message is None:
            break
        ws.send(message)
    return []
