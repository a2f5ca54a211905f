"""A Flask app showing what greenh2 is for: many concurrent streams on one connection, each
with blocking-style code (time.sleep here, a database call in real life).

    greenh2 --self-signed -b 127.0.0.1:8443 examples.flask_app:app
    gunicorn -k greenh2.worker --certfile cert.pem --keyfile key.pem examples.flask_app:app

    curl -k --http2 https://127.0.0.1:8443/                      # JSON
    curl -k --http2 -N https://127.0.0.1:8443/stream             # server-sent events
    curl -k --http2 --data-binary @big.file https://127.0.0.1:8443/upload   # streamed sha256
"""
import hashlib
import json
import time

from flask import Flask, Response, jsonify, request, stream_with_context

app = Flask(__name__)


@app.get("/")
def index():
    return jsonify(protocol=request.environ.get("SERVER_PROTOCOL"),
                   stream_id=request.environ.get("greenh2.stream_id"),
                   message="hello from greenh2")


@app.get("/stream")
def stream():
    """Server-sent events: one token every `interval` seconds, like an LLM token stream."""
    count = min(int(request.args.get("n", 10)), 1000)
    interval = min(float(request.args.get("interval", 0.1)), 5.0)

    def events():
        for i in range(count):
            yield f"data: {json.dumps({'token': i})}\n\n"
            time.sleep(interval)
        yield "event: done\ndata: {}\n\n"

    return Response(stream_with_context(events()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache"})


@app.post("/upload")
def upload():
    """Hash a request body of any size while it streams in: memory stays flat."""
    digest = hashlib.sha256()
    size = 0
    stream = request.stream
    while True:
        chunk = stream.read(65536)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
    return jsonify(sha256=digest.hexdigest(), bytes=size)
