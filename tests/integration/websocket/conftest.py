"""A greenh2 pair (TLS and cleartext) serving websocket_apps:app, and client helpers."""
import ssl

import pytest
from support.server import ServerProcess

WS_APP = "websocket_apps:app"


class WsServers:
    def __init__(self, tls, plain, certs):
        self.tls, self.plain, self.certs = tls, plain, certs

    def url(self, scheme, path):
        server = self.tls if scheme == "wss" else self.plain
        return f"{scheme}://127.0.0.1:{server.port}{path}"

    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.certs.certfile)
        ctx.check_hostname = False  # the certificate names localhost; we dial 127.0.0.1 too
        return ctx

    def connect_kw(self, scheme):
        return {"ssl": self.ssl_context()} if scheme == "wss" else {}


@pytest.fixture(scope="module")
def ws_servers(certs):
    common = ["--ws-max-message-size", "262144", WS_APP]
    tls = ServerProcess(["--certfile", certs.certfile, "--keyfile", certs.keyfile] + common)
    plain = ServerProcess(common)
    tls.start()
    try:
        plain.start()
    except Exception:
        tls.close()
        raise
    try:
        yield WsServers(tls, plain, certs)
    finally:
        plain.close()
        tls.close()
