"""Free TCP ports for programs the tests start with a port on their command line (gunicorn,
HAProxy, nginx, Caddy, systemd-socket-activate), safe with parallel test workers.

The usual trick -- bind port 0, read the port, close -- hands out a port from the kernel's
ephemeral range (/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default). Until the
program binds it, any outgoing connection on the machine (h2load, curl, another xdist worker's
clients) may take that same port as its source port, and the program then fails with "address
already in use". Ports here come from below the ephemeral range instead, from a slice of their
own for each pytest-xdist worker ($PYTEST_XDIST_WORKER), picked at random, and are checked by
binding them (without SO_REUSEADDR: a port in TIME_WAIT is skipped). Servers the tests start
themselves bind port 0 and report the port (ServerProcess), which needs none of this.
"""
import os
import random
import socket

_LOW, _HIGH = 20000, 32000  # below the default ephemeral range (32768-60999)
_SLICES = 16
_given: set = set()


def _slice():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ... ("" without xdist)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    size = (_HIGH - _LOW) // _SLICES
    start = _LOW + (index % _SLICES) * size
    return start, start + size


def _bindable(port, host):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host="127.0.0.1"):
    """A TCP port nobody uses now on ``host``, outside the ephemeral range, not handed out
    before by this process."""
    start, end = _slice()
    candidates = list(range(start, end))
    random.shuffle(candidates)
    for port in candidates:
        if port not in _given and _bindable(port, host):
            _given.add(port)
            return port
    raise RuntimeError("no free port in %d-%d" % (start, end))
