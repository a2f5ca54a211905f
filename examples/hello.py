"""The smallest WSGI app. Run it with HTTP/2 over TLS and cleartext on one port each:

    greenh2 --self-signed -b 127.0.0.1:8443 examples.hello:app
    curl -k --http2 https://127.0.0.1:8443/

    greenh2 -b 127.0.0.1:8000 examples.hello:app
    curl --http2-prior-knowledge http://127.0.0.1:8000/
"""


def app(environ, start_response):
    body = f"Hello, world! ({environ['SERVER_PROTOCOL']})\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]
