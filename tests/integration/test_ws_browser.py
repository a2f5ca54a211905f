"""A real browser (headless Chromium) against greenh2 over TLS: the page opens a WebSocket to its
own origin and 1,000 echoes come back in order.

Over HTTP/2 the browser must use RFC 8441 (extended CONNECT on the page's own connection): the
app records what it saw (`greenh2.protocol` 'h2', a stream id), and the page POSTs its result.
With `--http-protocols h1` the same page takes the HTTP/1.1 Upgrade path.

The examples' own pages (examples/websocket_chat.py, examples/ws_echo.py) run unchanged too:
the test types into the page's form through the DevTools protocol and reads the page's log; the
access log says which protocol carried the WebSocket.
"""
import json
import re

import pytest
from support.browser import Chromium, DevTools
from support.http1 import simple

APP = "ws_apps:app"
N = 1000
BROWSER_TIMEOUT = 25.0


def _report(port):
    resp = simple(port, "GET", "/report", tls=True)
    assert resp.status == 200, resp
    return json.loads(resp.body)


def _finished(report, ws_path):
    """The page has reported, and the echo route (if it counts) has seen the close."""
    counted = [w for w in report["websockets"] if w["PATH_INFO"] == ws_path and "echoed" in w]
    done = report["results"] and (ws_path != "/ws/echo" or counted or not report["results"][0]["ok"])
    return report if done else None


def _run_page(server, tmp_path, ws_path):
    port = server.port
    url = f"https://127.0.0.1:{port}/browser?ws={ws_path}&n={N}"
    with Chromium(url, str(tmp_path / "profile")) as browser:
        report = browser.wait(lambda: _finished(_report(port), ws_path), BROWSER_TIMEOUT)
        assert report, ("the page reported nothing within %.0f s\n--- chromium ---\n%s\n"
                        "--- greenh2 ---\n%s" % (BROWSER_TIMEOUT, browser.log_tail(),
                                                 server.stderr_text()[-3000:]))
    [result] = report["results"]
    assert result["ok"], result
    assert result["received"] == N and result["path"] == ws_path
    [ws] = [w for w in report["websockets"] if w["PATH_INFO"] == ws_path]
    return result, ws


@pytest.fixture
def tls_args(certs):
    return ["--certfile", certs.certfile, "--keyfile", certs.keyfile]


@pytest.mark.parametrize("ws_path", ["/ws/echo", "/sock/echo"])
def test_browser_websocket_over_http2(start_server, tls_args, tmp_path, ws_path):
    server = start_server(tls_args, app=APP, start_timeout=30)
    result, ws = _run_page(server, tmp_path, ws_path)
    # The page itself came over HTTP/2, and so did the WebSocket: an RFC 8441 CONNECT stream
    # (an odd client stream id on the page's connection), presented to the app as an upgrade.
    assert result["protocol"] == "h2"
    assert ws["greenh2.protocol"] == "h2", ws
    assert ws["greenh2.alpn"] == "h2"
    assert ws["greenh2.stream_id"] % 2 == 1 and ws["greenh2.stream_id"] > 0, ws
    assert ws["pipe"] == "h2" and ws["SERVER_PROTOCOL"] == "HTTP/2.0", ws
    assert ws["HTTP_UPGRADE"].lower() == "websocket" and ws["REQUEST_METHOD"] == "GET"
    if ws_path == "/ws/echo":
        assert ws["echoed"] == N


@pytest.mark.parametrize("ws_path", ["/ws/echo", "/sock/echo"])
def test_browser_websocket_over_http1(start_server, tls_args, tmp_path, ws_path):
    server = start_server(tls_args + ["--http-protocols", "h1"], app=APP, start_timeout=30)
    result, ws = _run_page(server, tmp_path, ws_path)
    assert result["protocol"] == "http/1.1"
    assert ws["greenh2.protocol"] == "http/1.1" and ws["SERVER_PROTOCOL"] == "HTTP/1.1", ws
    assert ws["greenh2.stream_id"] == 0 and ws["pipe"] == "http/1.1"
    assert ws["HTTP_UPGRADE"].lower() == "websocket"
    if ws_path == "/ws/echo":
        assert ws["echoed"] == N


# (WebSocket path, what the page logs once open, what it logs for our message)
EXAMPLE_PAGES = {
    "examples.websocket_chat:app": ("/chat", "* connected", "hello from chromium"),
    "examples.ws_echo:app": ("/", "open", "echo: hello from chromium"),
}
LOG = 'document.getElementById("log").textContent'


@pytest.mark.parametrize("protocols", ["h2,h1", "h1"])
@pytest.mark.parametrize("app", sorted(EXAMPLE_PAGES))
def test_example_page_in_browser(start_server, tls_args, tmp_path, app, protocols):
    ws_path, opened, echoed = EXAMPLE_PAGES[app]
    server = start_server(tls_args + ["--http-protocols", protocols, "--access-log", "-"],
                          app=app, start_timeout=30)
    url = f"https://127.0.0.1:{server.port}/"
    with Chromium(url, str(tmp_path / "profile"), ["--remote-debugging-port=0"]) as browser:
        with DevTools(browser) as page:
            assert page.wait_for(f"{LOG}.includes({json.dumps(opened)})"), browser.log_tail()
            page.evaluate('document.getElementById("m").value = "hello from chromium";'
                          'document.getElementById("f").requestSubmit(); true')
            assert page.wait_for(f"{LOG}.includes({json.dumps(echoed)})"), page.evaluate(LOG)
            navigation = page.evaluate(
                'performance.getEntriesByType("navigation")[0].nextHopProtocol')
            page.evaluate("ws.close(1000); true")  # the WebSocket's request ends: access log
    expected = "h2" if protocols == "h2,h1" else "http/1.1"
    assert navigation == expected
    # 200 on an RFC 8441 CONNECT stream (shown to the app as a GET), 101 after an HTTP/1.1 Upgrade
    request = f'"GET {ws_path} HTTP/2.0" 200' if expected == "h2" else f'"GET {ws_path} HTTP/1.1" 101'
    assert server.wait_for_stderr(re.escape(request), timeout=10), server.stderr_text()[-3000:]
