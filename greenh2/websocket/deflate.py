"""permessage-deflate (RFC 7692) with the decompressed size of a message capped.

wsproto's `PerMessageDeflate` inflates whatever arrives: a few KiB of deflate can become
gigabytes (a deflate bomb). `BoundedDeflate` inflates at most `max_size` + 1 bytes per message
and fails the connection with 1009 (RFC 6455 §7.4.1, message too big) the moment a message
would exceed it, before the memory is spent. It relies on wsproto 1.x's extension hooks
(`frame_inbound_payload_data`, `frame_inbound_complete`) and their `_inbound_*` state.
"""
from __future__ import annotations

import zlib
from typing import Any

from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason


class BoundedDeflate(PerMessageDeflate):
    def __init__(self, max_size: int) -> None:
        super().__init__()
        self.max_size = max_size
        self.inflated = 0  # bytes inflated so far in the current message

    def frame_inbound_payload_data(self, proto: Any, data: bytes) -> bytes | CloseReason:
        if not self._inbound_compressed or not self._inbound_is_compressible:
            return data
        decompressor = self._decompressor
        assert decompressor is not None  # set by frame_inbound_header for a compressed message
        room = self.max_size - self.inflated
        try:
            out = decompressor.decompress(bytes(data), room + 1)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        self.inflated += len(out)
        if self.inflated > self.max_size or decompressor.unconsumed_tail:
            return CloseReason.MESSAGE_TOO_BIG
        return out

    def frame_inbound_complete(self, proto: Any, fin: bool) -> bytes | CloseReason | None:
        # All input is inflated by now; the sync marker RFC 7692 §7.2.2 appends adds nothing.
        result = super().frame_inbound_complete(proto, fin)
        if fin:
            self.inflated = 0
        return result


def negotiate(offers: list[str], max_size: int) -> tuple[BoundedDeflate | None, str]:
    """The first permessage-deflate offer we can accept (RFC 7692 §5): the extension object and
    the Sec-WebSocket-Extensions value to answer with; (None, "") if none fits."""
    for offer in offers:
        if offer.split(";", 1)[0].strip().lower() != "permessage-deflate":
            continue
        ext = BoundedDeflate(max_size)
        try:
            params = ext.accept(offer)
        except ValueError:  # a malformed parameter value: decline this offer
            continue
        if params is None or params is False:
            continue
        value = "permessage-deflate" + (f"; {params}" if isinstance(params, str) and params else "")
        return ext, value
    return None, ""
