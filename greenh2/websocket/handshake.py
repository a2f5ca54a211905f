"""The opening handshake rules, for both transports, as pure functions (no I/O).

HTTP/1.1 (RFC 6455 §4.2.1): a GET with `Upgrade: websocket`, `Connection: Upgrade`, a
`Sec-WebSocket-Key` of 16 base64 bytes and `Sec-WebSocket-Version: 13`; the answer is
`101 Switching Protocols` with `Sec-WebSocket-Accept` (§4.2.2).

HTTP/2 (RFC 8441 §4-§5): an extended CONNECT (`:method CONNECT`, `:protocol websocket`,
`:scheme`, `:path`, `:authority`; h2 checks the pseudo-header set) with
`sec-websocket-version: 13`; the answer is `:status 200`, and `Sec-WebSocket-Key`/`-Accept` are
not used (§5). So that WSGI libraries which check the HTTP/1.1 upgrade headers work unchanged,
the request is shown to the app as that GET: `as_upgrade_get` rewrites the head.
"""
from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field

from wsproto.utilities import generate_accept_token

from greenh2.websocket.deflate import BoundedDeflate, negotiate
from greenh2.wsgi.environ import Headers, RequestHead

VERSION = "13"


@dataclass
class Offer:
    """A valid opening handshake request, whatever the transport."""
    transport: str  # "http/1.1" or "h2"
    path: str
    origin: str = ""
    key: str = ""  # Sec-WebSocket-Key (HTTP/1.1 only)
    subprotocols: list[str] = field(default_factory=list)
    extensions: list[str] = field(default_factory=list)


@dataclass
class Refusal:
    """A request that asked for a WebSocket but cannot have one: the server answers it."""
    status: int
    reason: str
    headers: Headers = field(default_factory=list)


def _value(headers: Headers, name: str) -> str:
    return ", ".join(v for n, v in headers if n == name)


def _tokens(headers: Headers, name: str) -> list[str]:
    return [t.strip() for t in _value(headers, name).split(",") if t.strip()]


def wants_websocket(head: RequestHead) -> bool:
    """An HTTP/1.1 request that asks to switch to WebSocket (RFC 6455 §4.1, §4.2.1 item 3)."""
    return "websocket" in [t.lower() for t in _tokens(head.headers, "upgrade")]


def _common(head: RequestHead, transport: str) -> Offer | Refusal:
    if _value(head.headers, "sec-websocket-version") != VERSION:
        # RFC 6455 §4.2.2 item 4 (and §4.4): tell the client the version we speak.
        status = 426 if transport == "http/1.1" else 400
        return Refusal(status, "unsupported Sec-WebSocket-Version",
                       [("sec-websocket-version", VERSION)])
    return Offer(transport, head.target, origin=_value(head.headers, "origin"),
                 subprotocols=_tokens(head.headers, "sec-websocket-protocol"),
                 extensions=_tokens_keep_params(head.headers))


def _tokens_keep_params(headers: Headers) -> list[str]:
    """Sec-WebSocket-Extensions offers, each with its parameters (RFC 6455 §9.1)."""
    return [e.strip() for e in _value(headers, "sec-websocket-extensions").split(",") if e.strip()]


def h1_offer(head: RequestHead) -> Offer | Refusal:
    """Check an HTTP/1.1 upgrade request (RFC 6455 §4.2.1)."""
    if head.method != "GET" or head.protocol != "HTTP/1.1":
        return Refusal(400, "a WebSocket handshake is an HTTP/1.1 GET")
    if "upgrade" not in [t.lower() for t in _tokens(head.headers, "connection")]:
        return Refusal(400, "Connection: Upgrade missing")
    key = _value(head.headers, "sec-websocket-key")
    try:
        if len(base64.b64decode(key.encode("ascii"), validate=True)) != 16:
            raise ValueError
    except (ValueError, binascii.Error, UnicodeEncodeError):
        return Refusal(400, "bad Sec-WebSocket-Key")
    offer = _common(head, "http/1.1")
    if isinstance(offer, Offer):
        offer.key = key
    return offer


def h2_offer(head: RequestHead, protocol: str) -> Offer | Refusal:
    """Check an RFC 8441 extended CONNECT (h2 has checked the pseudo-header set, §4)."""
    if protocol != "websocket":
        # RFC 8441 defines only "websocket"; RFC 9220 §3 (same rule for HTTP/3): an unknown or
        # unsupported :protocol SHOULD get 501 (Not Implemented).
        return Refusal(501, f"unsupported :protocol {protocol[:40]!r}")
    return _common(head, "h2")


def as_upgrade_get(head: RequestHead) -> None:
    """Show an RFC 8441 request to the app the way an HTTP/1.1 upgrade looks: a GET with
    Upgrade, Connection and a (synthesised) Sec-WebSocket-Key; the protocol stays HTTP/2.0."""
    head.method = "GET"
    names = {n for n, _ in head.headers}
    head.headers.append(("upgrade", "websocket"))
    head.headers.append(("connection", "Upgrade"))
    if "sec-websocket-key" not in names:
        head.headers.append(("sec-websocket-key", base64.b64encode(os.urandom(16)).decode()))


def response_headers(offer: Offer, subprotocol: str | None, compression: bool,
                     max_message_size: int) -> tuple[Headers, list[BoundedDeflate]]:
    """The handshake response fields and the extensions to run (RFC 6455 §4.2.2, RFC 7692)."""
    headers: Headers = []
    if offer.transport == "http/1.1":
        headers += [("upgrade", "websocket"), ("connection", "Upgrade"),
                    ("sec-websocket-accept", generate_accept_token(offer.key.encode()).decode())]
    if subprotocol:
        if subprotocol not in offer.subprotocols:  # §4.2.2: one of the client's, or none
            raise ValueError(f"subprotocol {subprotocol!r} was not offered by the client")
        headers.append(("sec-websocket-protocol", subprotocol))
    extensions: list[BoundedDeflate] = []
    if compression and offer.extensions:
        ext, value = negotiate(offer.extensions, max_message_size)
        if ext is not None:
            extensions.append(ext)
            headers.append(("sec-websocket-extensions", value))
    return headers, extensions
