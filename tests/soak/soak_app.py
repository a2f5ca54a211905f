"""The app of the chaos soak (``soak.soak_app:app`` with tests/ on sys.path): WebSocket
upgrades go to websocket_apps (``/echo``), every other request to apps:app (``/hello``,
``/sleep``, ``/pid`` ...), so one backend serves the whole mixed load."""
import apps
import websocket_apps


def app(environ, start_response):
    if environ.get("wsgi.websocket") is not None:
        return websocket_apps.app(environ, start_response)
    return apps.app(environ, start_response)
