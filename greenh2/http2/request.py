"""Request header blocks: validated once and turned into a `RequestHead` in the same pass.

Why this module exists: h2 validates every received field with a chain of generators and ends
the whole connection when one request is malformed. RFC 9113 §8.1.1 makes a malformed request a
*stream* error: behind a proxy that multiplexes many clients onto one connection, one bad request
must not cost the others theirs. So h2's inbound validation is off (`settings.h2_configuration`)
and the rules live here, run once per decoded field block (`HeaderBlockChecker`, the engine's
HPACK decoder hook); a malformed block becomes RST_STREAM(PROTOCOL_ERROR) on its stream only.

Rules (RFC 9113):
* §8.2.1: field names are non-empty, lowercase, visible ASCII, no colon past the first octet;
  values hold no NUL, CR or LF and neither start nor end with SP or HTAB.
* §8.2.2: connection-specific fields (connection, keep-alive, proxy-connection,
  transfer-encoding, upgrade) are malformed; `te` may only be "trailers".
* §8.3: only the request pseudo-header fields, each at most once, all before regular fields,
  none in trailers; :method, :scheme and a non-empty :path are required (§8.3.1), except for
  CONNECT (§8.5: :authority only); :protocol only on CONNECT and only while our
  SETTINGS_ENABLE_CONNECT_PROTOCOL is on (RFC 8441 §4, then :scheme and :path are required).
* §8.3.1: the request names its authority (:authority or Host; the WSGI environ needs one);
  when both are present they agree; Host at most once.
* RFC 9110 §8.6: content-length is digits, and repeated values agree (§8.1.1 counts DATA
  against it).
"""
from __future__ import annotations

import re
from typing import Any

from greenh2.wsgi.environ import Headers, RequestHead

_CONNECTION_SPECIFIC = frozenset((b"connection", b"keep-alive", b"proxy-connection",
                                  b"transfer-encoding", b"upgrade"))
# §8.2.1: a name is 0x21-0x7e minus uppercase and colon; a value has no NUL/CR/LF and no
# surrounding SP/HTAB. One C-level regex call per field.
_BAD_NAME = re.compile(rb"[^\x21-\x39\x3b-\x40\x5b-\x7e]").search
_BAD_VALUE = re.compile(rb"[\x00\r\n]|\A[ \t]|[ \t]\Z").search
_GOOD_NAMES: set[bytes] = set()  # names already checked (shared, bounded)
_GOOD_NAMES_MAX = 1024


class Malformed(Exception):
    """A malformed request or trailer section (RFC 9113 §8.1.1): stream error PROTOCOL_ERROR."""


def _check_name(name: bytes) -> None:
    if name in _GOOD_NAMES:
        return
    if not name or _BAD_NAME(name):
        raise Malformed(f"invalid field name {name!r}")
    if name in _CONNECTION_SPECIFIC:
        raise Malformed(f"connection-specific field {name.decode()!r}")
    if len(_GOOD_NAMES) < _GOOD_NAMES_MAX and name != b"te":
        _GOOD_NAMES.add(name)


def _check_field(name: bytes, value: bytes) -> None:
    """§8.2.1 and §8.2.2 for one regular field."""
    _check_name(name)
    if value and _BAD_VALUE(value):
        raise Malformed(f"invalid value in field {name!r}")
    if name == b"te" and value.lower() != b"trailers":
        raise Malformed(f"te: {value!r} (only 'trailers' is allowed)")


class _Pseudo:
    """The request pseudo-header fields seen so far (§8.3)."""
    __slots__ = ("authority", "method", "path", "protocol", "scheme")

    def __init__(self) -> None:
        self.method = self.scheme = self.path = self.authority = self.protocol = None  # type: bytes | None

    def take(self, name: bytes, value: bytes, allow_protocol: bool) -> None:
        slot = _PSEUDO_SLOTS.get(name)
        if slot is None or (slot == "protocol" and not allow_protocol):
            raise Malformed(f"pseudo-header field {name!r} not allowed in a request")
        if getattr(self, slot) is not None:
            raise Malformed(f"duplicate pseudo-header field {name!r}")
        if value and _BAD_VALUE(value):
            raise Malformed(f"invalid value in {name!r}")
        setattr(self, slot, value)

    def check(self) -> None:
        if self.method is None:
            raise Malformed("request without :method")
        if self.method == b"CONNECT" and self.protocol is None:  # §8.5
            if self.scheme is not None or self.path is not None:
                raise Malformed("CONNECT with :scheme or :path")
            if not self.authority:
                raise Malformed("CONNECT without :authority")
            return
        if self.protocol is not None and self.method != b"CONNECT":  # RFC 8441 §4
            raise Malformed(":protocol on a request other than CONNECT")
        if self.scheme is None or self.path is None:
            raise Malformed("request without :scheme or :path")
        if not self.path:
            raise Malformed("empty :path")


_PSEUDO_SLOTS = {b":method": "method", b":scheme": "scheme", b":path": "path",
                 b":authority": "authority", b":protocol": "protocol"}


def parse_request(headers: list[tuple[bytes, bytes]], allow_protocol: bool = False) -> RequestHead:
    """Validate one request field block and build its RequestHead (raises Malformed).

    `allow_protocol`: our SETTINGS_ENABLE_CONNECT_PROTOCOL is on (RFC 8441 extended CONNECT);
    :protocol then stays in the head's fields as (":protocol", value), the first field (the
    environ skips pseudo names). The head's scheme is "" for a plain CONNECT."""
    pseudo = _Pseudo()
    fields: Headers = []
    host: bytes | None = None
    length: bytes | None = None
    regular = False
    for name, value in headers:
        if name[:1] == b":":
            if regular:
                raise Malformed(f"pseudo-header field {name!r} after a regular field")
            pseudo.take(name, value, allow_protocol)
            continue
        regular = True
        _check_field(name, value)
        if name == b"host":
            if host is not None:
                raise Malformed("more than one Host field")
            host = value
            continue
        if name == b"content-length":
            if not value.isdigit() or (length is not None and value != length):
                raise Malformed(f"invalid content-length {value!r}")
            length = value
        fields.append((name.decode("latin-1"), value.decode("latin-1")))
    pseudo.check()
    authority = pseudo.authority if pseudo.authority is not None else host
    if not authority:  # §8.3.1; the environ's HTTP_HOST / SERVER_NAME come from it
        raise Malformed("request without :authority or Host")
    if host is not None and pseudo.authority is not None and host != pseudo.authority:
        raise Malformed("Host and :authority disagree")
    method = pseudo.method.decode("latin-1")  # type: ignore[union-attr]  # check() saw it
    target = pseudo.path.decode("latin-1") if pseudo.path is not None else ""
    if pseudo.protocol is not None:  # RFC 8441: the WebSocket layer reads it from the fields
        fields.insert(0, (":protocol", pseudo.protocol.decode("latin-1")))
    return RequestHead(method, target, "HTTP/2.0", fields, authority.decode("latin-1"),
                       pseudo.scheme.decode("latin-1") if pseudo.scheme is not None else "")


def check_trailers(headers: list[tuple[bytes, bytes]]) -> None:
    """A trailer section: regular fields only (§8.1, §8.3), each valid (§8.2)."""
    for name, value in headers:
        if name[:1] == b":":
            raise Malformed(f"pseudo-header field {name!r} in trailers")
        _check_field(name, value)


class HeaderBlockChecker:
    """What the HPACK decoder hook needs to know about the block it is decoding, and what it
    found: the request heads of new streams, and the streams whose block was malformed.

    `begin()` is called by the connection for every received HEADERS frame (CONTINUATIONs are
    joined by then); `checked()` gets the decoded block and returns what h2 should see: the
    block itself, or nothing when it is malformed (so none of h2's own checks on field
    content can turn it into a connection error)."""

    def __init__(self) -> None:
        self.stream_id = 0
        self.is_request = False
        self.allow_protocol = False
        self.heads: dict[int, RequestHead] = {}
        self.malformed: dict[int, str] = {}
        self._last: tuple[Any, bool, Any] = (None, False, None)  # (block, allow_protocol, head)

    def begin(self, stream_id: int, is_request: bool, allow_protocol: bool) -> None:
        self.stream_id, self.is_request, self.allow_protocol = stream_id, is_request, allow_protocol

    def checked(self, headers: Any) -> Any:
        sid = self.stream_id
        if not sid:  # not a HEADERS frame (a PUSH_PROMISE, refused by h2 anyway)
            return headers
        self.stream_id = 0
        try:
            if not self.is_request:
                check_trailers(headers)
            elif headers is self._last[0] and self.allow_protocol == self._last[1]:
                self.heads[sid] = _copy(self._last[2])  # the decoder's cached block again
            else:
                head = parse_request(headers, self.allow_protocol)
                self._last = (headers, self.allow_protocol, head)
                self.heads[sid] = _copy(head)
        except Malformed as exc:
            self.malformed[sid] = str(exc)
            return []
        return headers


def _copy(head: RequestHead) -> RequestHead:
    return RequestHead(head.method, head.target, head.protocol, list(head.headers),
                       head.authority, head.scheme)
