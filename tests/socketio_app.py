"""A Flask-SocketIO app in gevent async mode (``socketio_app:app``): python-engineio uses
`environ['wsgi.websocket']` (gevent-websocket's interface) for its websocket transport.

Events: `echo` acknowledges with what it got and what the server saw; `shout` is answered with
a `reply` event emitted back to the sender.
"""
import os
import sys

if os.environ.get("TEST_ENGINEIO_WITHOUT_GEVENT_WEBSOCKET"):
    # As if gevent-websocket were not installed: python-engineio's gevent mode then runs its
    # websocket transport on simple-websocket (environ['werkzeug.socket']).
    sys.modules["geventwebsocket"] = None

from flask import Flask, request
from flask_socketio import SocketIO, emit

app = Flask(__name__)
socketio = SocketIO(app, async_mode="gevent")


def _seen():
    env = request.environ
    sock = env.get("werkzeug.socket")
    return {"protocol": env.get("greenh2.protocol"),
            "websocket": env.get("wsgi.websocket") is not None,
            "upgrade": env.get("HTTP_UPGRADE", ""),
            "simple_websocket": bool(getattr(sock, "accepted", False))}


@socketio.on("echo")
def on_echo(data):
    return {"echo": data, **_seen()}  # the acknowledgement


@socketio.on("shout")
def on_shout(data):
    emit("reply", {"upper": str(data).upper(), **_seen()})
