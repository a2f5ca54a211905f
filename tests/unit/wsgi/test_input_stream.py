"""greenh2.wsgi.input_stream.InputStream over a pull function that returns awkward chunk sizes.

The expected semantics are those of a blocking binary file (io.BufferedReader), which is what
PEP 3333 code assumes: read(n) returns n bytes unless the body ends first (Django's
`request.body` reads CONTENT_LENGTH bytes with a single read call), readline(limit) returns at
most `limit` bytes and stops after a newline."""
import io
import random

import pytest

from greenh2.wsgi.input_stream import InputStream, is_streaming

BODY = (b"first line\n" + b"second, a longer line that spans many chunks\n" + b"\n"
        + b"x" * 300 + b"\n" + b"no newline at the end")


class Puller:
    """pull(max) over `data`, in chunk sizes taken in turn from `sizes`, never over max."""

    def __init__(self, data, sizes=(1, 7, 3, 64, 2, 5, 1, 13)):
        self.data, self.sizes, self.pos, self.turn = data, sizes, 0, 0
        self.calls = []
        self.after_eof = 0

    def __call__(self, max_bytes):
        assert max_bytes >= 1
        self.calls.append(max_bytes)
        if self.pos >= len(self.data):
            self.after_eof += 1
            return b""
        n = min(self.sizes[self.turn % len(self.sizes)], max_bytes)
        self.turn += 1
        chunk = self.data[self.pos:self.pos + n]
        self.pos += len(chunk)
        return chunk


def stream(data=BODY, sizes=(1, 7, 3, 64, 2, 5, 1, 13)):
    puller = Puller(data, sizes)
    return InputStream(puller), puller


def reference(data=BODY):
    return io.BufferedReader(io.BytesIO(data))


SIZES = [(1,), (2,), (1, 7, 3, 64, 2, 5, 1, 13), (1000,), (11,), (10, 1)]


@pytest.mark.parametrize("sizes", SIZES)
def test_read_all(sizes):
    s, puller = stream(sizes=sizes)
    assert s.read() == BODY
    assert s.read() == b""
    assert s.consumed == len(BODY)


def test_read_none_means_all():
    s, _ = stream()
    assert s.read(None) == BODY


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("n", [1, 2, 5, 16, 100, 1000])
def test_read_n_returns_n_bytes_until_the_end(sizes, n):
    s, _ = stream(sizes=sizes)
    ref = reference()
    while True:
        got = s.read(n)
        assert got == ref.read(n)
        if not got:
            break
    assert s.consumed == len(BODY)


def test_read_exact_content_length_in_one_call():
    s, _ = stream(b"a=1&b=2&c=3", sizes=(2,))
    assert s.read(11) == b"a=1&b=2&c=3"


def test_read_zero():
    s, puller = stream()
    assert s.read(0) == b""
    assert puller.calls == []  # reading nothing pulls nothing


def test_read_n_does_not_pull_far_beyond_what_was_asked():
    s, puller = stream(b"y" * 100_000, sizes=(100_000,))
    assert s.read(10) == b"y" * 10
    assert max(puller.calls) <= 65536


@pytest.mark.parametrize("sizes", SIZES)
def test_readline_and_iteration(sizes):
    s, _ = stream(sizes=sizes)
    assert list(s) == reference().readlines()
    s, _ = stream(sizes=sizes)
    lines = []
    while True:
        line = s.readline()
        if not line:
            break
        lines.append(line)
    assert lines == BODY.splitlines(keepends=True)
    assert lines[1] == b"second, a longer line that spans many chunks\n"
    assert lines[-1] == b"no newline at the end"


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("limit", [0, 1, 5, 11, 12, 40, 500])
def test_readline_with_limit_matches_a_file(sizes, limit):
    s, _ = stream(sizes=sizes)
    ref = reference()
    for _ in range(200):
        got = s.readline(limit)
        assert got == ref.readline(limit)
        assert len(got) <= limit
        if not got and limit:
            break


def test_readline_none_and_negative_mean_no_limit():
    s, _ = stream()
    assert s.readline(None) == b"first line\n"
    assert s.readline(-1) == b"second, a longer line that spans many chunks\n"


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("hint", [-1, 0, 1, 11, 12, 60, 10_000, None])
def test_readlines_hint(sizes, hint):
    s, _ = stream(sizes=sizes)
    lines = BODY.splitlines(keepends=True)
    got = s.readlines(hint)
    assert got == lines[:len(got)]  # whole lines, in order
    if hint is None or hint <= 0:
        assert got == lines
    else:
        total = sum(map(len, got))
        assert got == lines or total >= hint  # stops only once the hint is reached...
        assert total - len(got[-1]) <= hint  # ...and not a line later
    assert s.read() == b"".join(lines[len(got):])


def test_mixed_calls_match_a_file():
    rng = random.Random(7)
    for trial in range(30):
        sizes = tuple(rng.randint(1, 20) for _ in range(5))
        s, _ = stream(sizes=sizes)
        ref = reference()
        for _ in range(60):
            op = rng.choice(["read", "readline", "readline_n", "read_all"] + ["read"] * 3)
            n = rng.randint(0, 50)
            if op == "read":
                assert s.read(n) == ref.read(n), (trial, op, n)
            elif op == "readline":
                assert s.readline() == ref.readline(), (trial, op)
            elif op == "readline_n":
                assert s.readline(n) == ref.readline(n), (trial, op, n)
            else:
                assert s.read() == ref.read(), (trial, op)


def test_eof_is_sticky_and_pull_not_called_again():
    s, puller = stream(b"abc", sizes=(2,))
    assert s.read() == b"abc"
    calls = len(puller.calls)
    assert puller.after_eof == 1
    for op in (s.read, lambda: s.read(10), s.readline, lambda: s.readline(5), s.readlines):
        assert op() in (b"", [])
    assert list(s) == []
    assert len(puller.calls) == calls  # once the end was seen, the pull is never called again


def test_empty_body():
    s, puller = stream(b"")
    assert s.read(10) == b""
    assert s.readline() == b""
    assert s.read() == b""
    assert puller.after_eof == 1


def test_drain_discards_rest():
    s, puller = stream(sizes=(64,))
    assert s.read(5) == b"first"
    s.drain()
    assert puller.pos == len(BODY)
    assert s.read() == b""


def test_consumed_counts_bytes_handed_to_the_app():
    s, _ = stream()
    s.read(3)
    s.readline()
    assert s.consumed == len(b"first line\n")
    s.read()
    assert s.consumed == len(BODY)


def test_close_is_harmless():
    s, _ = stream(sizes=(64,))
    s.close()
    assert s.read(5) == b"first"


# --- streaming bodies (no Content-Length, gRPC / Connect streaming types) ---------------------

@pytest.mark.parametrize("length, ctype, streaming", [
    (None, "", True), (None, "text/plain", True), ("10", "application/grpc", True),
    ("10", "application/grpc+proto", True), ("10", "Application/Connect+json", True),
    ("10", "application/json", False), ("10", "", False), ("0", "application/proto", False)])
def test_is_streaming(length, ctype, streaming):
    assert is_streaming(length, ctype) is streaming


@pytest.mark.parametrize("sizes", SIZES)
def test_streaming_read_n_returns_what_arrived_and_never_waits_for_more(sizes):
    puller = Puller(BODY, sizes)
    body = InputStream(puller, streaming=True)
    got = []
    while True:
        calls = len(puller.calls)
        chunk = body.read(50)
        if not chunk:
            break
        assert 1 <= len(chunk) <= 50
        assert len(puller.calls) - calls <= 1  # at most one pull: a short read, not a wait
        got.append(chunk)
    assert b"".join(got) == BODY and len(got) > len(BODY) // 50
    assert body.read(50) == b"" and body.read() == b""


def test_streaming_read_serves_the_buffer_left_by_readline_first():
    body = InputStream(Puller(b"ab\ncdef", sizes=(7,)), streaming=True)
    assert body.readline() == b"ab\n"
    assert body.read(100) == b"cdef"  # the rest of the pulled chunk, no new pull
    assert body.read(100) == b""


def test_streaming_read_all_and_zero_keep_their_meaning():
    body = InputStream(Puller(BODY, sizes=(3,)), streaming=True)
    assert body.read(0) == b""
    assert body.read(5) == b"fir"
    assert body.read() == BODY[3:]
