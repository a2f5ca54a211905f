"""h2's per-frame receive step without its eager `repr(frame)`.

h2 4.x's `H2Connection._receive_frame` starts with
`self.config.logger.trace("Received frame: %s", repr(frame))`: the repr is built for every
received frame before a logger that discards it is called (hyperframe hex-encodes the first
bytes of every DATA and HEADERS payload for it). That costs a few microseconds per frame,
several per cent of a small request. `QuietReceive._receive_frame` is h2's method line for
line, with the repr built only when the configured logger is not h2's do-nothing default.

It is a copy of a private h2 method, so tests/unit/http2/test_receive.py pins the h2 source it
mirrors (a hash of `inspect.getsource`): an h2 release that changes the method fails that test
instead of silently diverging. Frame handling itself (the dispatch table, stream states) stays
h2's own.
"""
from __future__ import annotations

from typing import Any

from h2.config import DummyLogger
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.exceptions import StreamClosedError, StreamIDTooLowError
from hyperframe.frame import RstStreamFrame

# sha256 of inspect.getsource(h2.connection.H2Connection._receive_frame) this module mirrors
MIRRORED_SOURCE_SHA256 = "39b2e16b4fd74ed014ca144a0c6e388aef3dc51f116d6f0a874b70d92bd92873"


class QuietReceive(H2Connection):
    def _receive_frame(self, frame: Any) -> list[Any]:
        """h2 4.x `_receive_frame` (see the module docstring), trace repr only when traced."""
        logger = self.config.logger
        if type(logger) is not DummyLogger:
            logger.trace("Received frame: %s", repr(frame))
        try:
            frames, events = self._frame_dispatch_table[frame.__class__](frame)
        except StreamClosedError as e:
            # closed by RST_STREAM: answer with RST_STREAM; otherwise a connection error
            if self._stream_is_closed_by_reset(e.stream_id):
                f = RstStreamFrame(e.stream_id)
                f.error_code = e.error_code
                self._prepare_for_sending([f])
                events = e._events
            else:
                raise
        except StreamIDTooLowError as e:
            # a stream closed by RST_STREAM is a stream error; by END_STREAM or implicitly
            # (a higher stream id was opened) a connection error (RFC 9113 §5.1, §5.1.1)
            if self._stream_is_closed_by_reset(e.stream_id):
                f = RstStreamFrame(e.stream_id)
                f.error_code = ErrorCodes.STREAM_CLOSED
                self._prepare_for_sending([f])
                events = []
            elif self._stream_is_closed_by_end(e.stream_id):
                raise StreamClosedError(e.stream_id) from e
            else:
                raise
        else:
            self._prepare_for_sending(frames)
        return events
