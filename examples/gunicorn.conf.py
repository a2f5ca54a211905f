# gunicorn -c examples/gunicorn.conf.py examples.flask_app:app
#
# greenh2 as a gunicorn worker: HTTP/2 (TLS + ALPN), h2c and HTTP/1.1, every stream of a
# connection in its own greenlet. Settings use gunicorn's names; greenh2 maps them.
import os

worker_class = "greenh2.worker"
workers = int(os.environ.get("WORKERS", "2"))
bind = [os.environ.get("BIND", "127.0.0.1:8443")]
certfile = os.environ.get("CERTFILE", "cert.pem")
keyfile = os.environ.get("KEYFILE", "key.pem")
http_protocols = "h2,h1"
http2_max_concurrent_streams = 100
worker_connections = 1000      # connections per worker (connection floods)
timeout = 30                   # heartbeat: the worker notifies from its own greenlet
graceful_timeout = 30          # SIGTERM: GOAWAY, then in-flight streams get this long
keepalive = 60
max_requests = 10000
max_requests_jitter = 1000
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss'   # %(r)s ends in HTTP/2.0 for h2
