"""greenh2.http2.inbound.FrameScanner: whatever way the bytes are split, h2 must get exactly the
original byte stream minus the GOAWAY frames the scanner captured, in order."""
import random

import pytest
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from greenh2.http2.inbound import PREFACE, FrameScanner, FrameTooLarge, Goaway


def goaway(last=0, code=0, extra=b""):
    return GoAwayFrame(0, last_stream_id=last, error_code=code, additional_data=extra).serialize()


def raw_frame(ftype, flags, sid, payload):
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big") + payload


# (bytes, captured?) pairs: a realistic mix, with GOAWAYs in every position that matters.
def sample_frames():
    return [
        (SettingsFrame(0, settings={4: 65535}).serialize(), False),
        (SettingsFrame(0, flags=["ACK"]).serialize(), False),
        (HeadersFrame(1, data=b"\x82\x86\x84" * 5, flags=["END_HEADERS"]).serialize(), False),
        (DataFrame(1, b"x" * 1000).serialize(), False),
        (goaway(1, 0), True),
        (DataFrame(1, b"").serialize(), False),
        (DataFrame(1, b"y" * 16384, flags=["END_STREAM"]).serialize(), False),
        (PingFrame(0, opaque_data=b"pingping").serialize(), False),
        (goaway(3, 2, b"debug data " * 10), True),
        (WindowUpdateFrame(0, window_increment=1000).serialize(), False),
        (HeadersFrame(3, data=b"\x82" * 10).serialize(), False),  # no END_HEADERS
        (goaway(3, 0), False),  # inside a header block: h2 must see it
        (ContinuationFrame(3, data=b"\x86", flags=["END_HEADERS"]).serialize(), False),
        (goaway(5, 0), True),
        (PriorityFrame(5, depends_on=1, stream_weight=16).serialize(), False),
        (RstStreamFrame(3, error_code=8).serialize(), False),
        (raw_frame(7, 0, 1, b"\x00" * 8), False),  # GOAWAY on a stream: h2 reports the error
        (raw_frame(0xFA, 0, 0, b"unknown type"), False),
        (goaway(7, 0), True),
        (goaway(7, 0), True),
        (DataFrame(7, b"z" * 7).serialize(), False),
    ]


def expected_sequence(frames, preface=True):
    """[("bytes", b"..."), ("goaway", payload), ...] with adjacent bytes merged."""
    seq = [("bytes", PREFACE)] if preface else []
    for data, captured in frames:
        if captured:
            seq.append(("goaway", data[9:]))
        elif seq and seq[-1][0] == "bytes":
            seq[-1] = ("bytes", seq[-1][1] + data)
        else:
            seq.append(("bytes", data))
    return seq


def run(scanner, chunks):
    seq = []
    for chunk in chunks:
        for piece in scanner.feed(chunk):
            if isinstance(piece, Goaway):
                assert piece.stream_id == 0
                seq.append(("goaway", piece.payload))
            else:
                data = bytes(piece)
                if not data:
                    continue
                if seq and seq[-1][0] == "bytes":
                    seq[-1] = ("bytes", seq[-1][1] + data)
                else:
                    seq.append(("bytes", data))
    return seq


class Recorder:
    def __init__(self):
        self.headers = []

    def __call__(self, ftype, flags, length, sid):
        self.headers.append((ftype, flags, length, sid))


def frame_headers(frames):
    out = []
    for data, _ in frames:
        out.append((data[3], data[4], int.from_bytes(data[:3], "big"),
                    int.from_bytes(data[5:9], "big") & 0x7FFFFFFF))
    return out


FRAMES = sample_frames()
WIRE = PREFACE + b"".join(d for d, _ in FRAMES)
EXPECTED = expected_sequence(FRAMES)


def check(chunks):
    rec = Recorder()
    assert run(FrameScanner(65536, rec), chunks) == EXPECTED
    assert rec.headers == frame_headers(FRAMES)


def test_whole_stream_in_one_piece():
    check([WIRE])


def test_one_byte_chunks():
    check([WIRE[i:i + 1] for i in range(len(WIRE))])


@pytest.mark.parametrize("size", [2, 3, 5, 8, 9, 10, 17, 24, 25, 33, 100, 4096])
def test_fixed_chunk_sizes(size):
    check([WIRE[i:i + size] for i in range(0, len(WIRE), size)])


@pytest.mark.parametrize("seed", range(25))
def test_random_chunk_sizes(seed):
    rng = random.Random(seed)
    limit = rng.choice([4, 12, 40, 300, 5000])
    sizes = [rng.randint(0, limit) for _ in range(len(WIRE))]  # 0: empty reads too
    chunks = []
    pos = 0
    for n in sizes:
        chunks.append(WIRE[pos:pos + n])
        pos += n
        if pos >= len(WIRE):
            break
    chunks.append(WIRE[pos:])
    check(chunks)


def test_every_two_way_split_of_the_small_frames():
    # all split points of a short stream that has every kind of boundary in it
    frames = [f for f in FRAMES if len(f[0]) < 200]
    wire = PREFACE + b"".join(d for d, _ in frames)
    expected = expected_sequence(frames)
    for i in range(len(wire) + 1):
        assert run(FrameScanner(65536, Recorder()), [wire[:i], wire[i:]]) == expected, i


def test_every_three_way_split_around_a_goaway():
    frames = [(PingFrame(0, opaque_data=b"a" * 8).serialize(), False), (goaway(1, 0), True),
              (PingFrame(0, opaque_data=b"b" * 8).serialize(), False)]
    wire = b"".join(d for d, _ in frames)
    expected = expected_sequence(frames, preface=False)
    for i in range(len(wire) + 1):
        for j in range(i, len(wire) + 1):
            got = run(FrameScanner(16384, Recorder(), expect_preface=False),
                      [wire[:i], wire[i:j], wire[j:]])
            assert got == expected, (i, j)


def test_goaway_inside_header_block_is_forwarded():
    frames = [(SettingsFrame(0).serialize(), False),
              (HeadersFrame(1, data=b"\x82").serialize(), False),  # END_HEADERS missing
              (goaway(0, 0), False)]
    wire = PREFACE + b"".join(d for d, _ in frames)
    for chunks in ([wire], [wire[i:i + 1] for i in range(len(wire))]):
        seq = run(FrameScanner(16384, Recorder()), chunks)
        assert seq == [("bytes", wire)]


def test_goaway_after_push_promise_without_end_headers_is_forwarded():
    pp = raw_frame(5, 0, 1, (2).to_bytes(4, "big") + b"\x82")
    frames = [(SettingsFrame(0).serialize(), False), (pp, False), (goaway(), False)]
    wire = b"".join(d for d, _ in frames)
    assert run(FrameScanner(16384, Recorder(), expect_preface=False), [wire]) == [("bytes", wire)]


def test_header_block_closed_by_continuation_then_goaway_is_captured():
    frames = [(SettingsFrame(0).serialize(), False),
              (HeadersFrame(1, data=b"\x82").serialize(), False),
              (ContinuationFrame(1, data=b"\x86").serialize(), False),
              (ContinuationFrame(1, data=b"\x84", flags=["END_HEADERS"]).serialize(), False),
              (goaway(1, 0), True)]
    wire = b"".join(d for d, _ in frames)
    assert run(FrameScanner(16384, Recorder(), expect_preface=False), [wire]) == \
        expected_sequence(frames, preface=False)


def test_first_frame_is_never_captured():
    wire = goaway(0, 0) + goaway(0, 1)
    expected = [("bytes", goaway(0, 0)), ("goaway", goaway(0, 1)[9:])]
    assert run(FrameScanner(16384, Recorder(), expect_preface=False), [wire]) == expected
    assert run(FrameScanner(16384, Recorder(), expect_preface=False),
               [wire[i:i + 1] for i in range(len(wire))]) == expected


def scan_allowing_errors(scanner, chunks):
    """Pieces fed until the scanner refuses the input (refusing is a valid answer)."""
    pieces = []
    try:
        for chunk in chunks:
            pieces.extend(scanner.feed(chunk))
    except Exception:
        pass
    return pieces


@pytest.mark.parametrize("split", [False, True])
def test_first_frame_after_preface_is_never_captured(split):
    wire = PREFACE + goaway(0, 0) + goaway(0, 1)
    chunks = [wire[i:i + 1] for i in range(len(wire))] if split else [wire]
    pieces = scan_allowing_errors(FrameScanner(16384, Recorder()), chunks)
    # h2 (or the scanner) must reject a GOAWAY in place of the client's SETTINGS
    assert goaway(0, 0)[9:] not in [p.payload for p in pieces if isinstance(p, Goaway)]


@pytest.mark.parametrize("frame", [
    raw_frame(7, 0, 0, b"\x00" * 4),  # too short to be a GOAWAY
    raw_frame(7, 0, 1, b"\x00" * 8),  # GOAWAY on a stream
], ids=["short", "on-stream"])
def test_malformed_goaway_is_not_captured(frame):
    wire = SettingsFrame(0).serialize() + frame
    pieces = scan_allowing_errors(FrameScanner(16384, Recorder(), expect_preface=False), [wire])
    assert not any(isinstance(p, Goaway) for p in pieces)


def test_goaway_payload_and_stream_id_are_reported():
    wire = SettingsFrame(0).serialize() + goaway(9, 11, b"bye")
    pieces = FrameScanner(16384, Recorder(), expect_preface=False).feed(wire)
    captured = [p for p in pieces if isinstance(p, Goaway)]
    assert len(captured) == 1
    assert captured[0].stream_id == 0
    assert captured[0].payload == (9).to_bytes(4, "big") + (11).to_bytes(4, "big") + b"bye"


def test_oversized_frame_refused_at_its_header():
    scanner = FrameScanner(16384, Recorder(), expect_preface=False)
    header = (16385).to_bytes(3, "big") + bytes([0, 0, 0, 0, 0, 1])
    for i in range(8):
        assert [bytes(p) for p in scanner.feed(header[i:i + 1])] in ([], [b""])
    with pytest.raises(FrameTooLarge):
        scanner.feed(header[8:])


def test_frame_of_exactly_max_size_passes():
    rec = Recorder()
    frame = DataFrame(1, b"q" * 16384).serialize()
    assert run(FrameScanner(16384, rec, expect_preface=False), [frame]) == [("bytes", frame)]
    assert rec.headers == [(0, 0, 16384, 1)]


def test_hook_exception_stops_scanning():
    class Boom(Exception):
        pass

    def hook(ftype, flags, length, sid):
        if ftype == 6:
            raise Boom

    scanner = FrameScanner(16384, hook, expect_preface=False)
    with pytest.raises(Boom):
        scanner.feed(SettingsFrame(0).serialize() + PingFrame(0).serialize())


def test_hook_sees_reserved_bit_masked_stream_id():
    rec = Recorder()
    frame = raw_frame(8, 0, 0x80000003, (1).to_bytes(4, "big"))
    FrameScanner(16384, rec, expect_preface=False).feed(frame)
    assert rec.headers == [(8, 0, 4, 3)]
