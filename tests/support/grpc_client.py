"""grpcio clients for examples/grpc (the connect-python EchoService served by greenh2), and one
check per call shape, shared by the standalone and the gunicorn tests.

`grpc.enable_http_proxy` is 0: these machines set a proxy in the environment, and grpcio would
send loopback calls to it. Message size limits are raised for the 10 MiB checks."""
import queue
import threading
import time

import grpc

from examples.grpc import echo_pb2 as pb
from examples.grpc import echo_pb2_grpc as pb_grpc

MAX_MESSAGE = 32 << 20
OPTIONS = [("grpc.enable_http_proxy", 0), ("grpc.max_send_message_length", MAX_MESSAGE),
           ("grpc.max_receive_message_length", MAX_MESSAGE)]
NON_ASCII = "héllo wörld ✓ 日本"


def channel(port, root_cert=None, options=()):
    target = "localhost:%d" % port if root_cert else "127.0.0.1:%d" % port
    opts = OPTIONS + list(options)
    if root_cert is None:
        return grpc.insecure_channel(target, options=opts)
    with open(root_cert, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    return grpc.secure_channel(target, creds, options=opts)


def stub(chan):
    return pb_grpc.EchoServiceStub(chan)


def check_unary(s):
    assert s.Say(pb.Msg(text=NON_ASCII, number=7), timeout=10) == pb.Msg(text=NON_ASCII, number=7)


def check_server_streaming(s):
    got = [m.text for m in s.Count(pb.Msg(text="n", number=5), timeout=10)]
    assert got == ["n 0", "n 1", "n 2", "n 3", "n 4"]
    assert list(s.Count(pb.Msg(text="none", number=0), timeout=10)) == []  # trailers only


def check_client_streaming(s):
    msgs = [pb.Msg(text="a"), pb.Msg(text="b", payload=b"xyz"), pb.Msg(text="c", payload=b"12")]
    assert s.Collect(iter(msgs), timeout=10) == pb.Msg(text="a b c", number=3, payload=b"5")


def check_bidi_ping_pong(s, rounds=5):
    """Full duplex: each message's answer arrives before the next message is sent (the request
    stream stays open the whole time, so the server must read it as it arrives)."""
    outbox = queue.Queue()
    sent = []

    def requests():
        while True:
            msg = outbox.get()
            if msg is None:
                return
            sent.append(msg.number)
            yield msg

    answers = s.Chat(requests(), timeout=20)
    for i in range(rounds):
        outbox.put(pb.Msg(text="ping %d" % i, number=i))
        answer = next(answers)
        assert (answer.text, answer.number) == ("re: ping %d" % i, i)
        assert sent == list(range(i + 1))  # nothing more was sent before this answer
    outbox.put(None)
    assert list(answers) == []


def check_error_status(s):
    try:
        s.Fail(pb.Msg(text=NON_ASCII), timeout=10)
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, exc
        assert exc.details() == NON_ASCII, exc
    else:
        raise AssertionError("Fail returned")


def check_deadline_stops_the_handler(s, key):
    """The client's deadline passes (grpcio resets the stream): the handler, 5 s into
    time.sleep, is interrupted well before its sleep would have ended."""
    start = time.monotonic()
    try:
        s.Sleep(pb.SleepRequest(seconds=5, key=key), timeout=0.5)
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED, exc
    else:
        raise AssertionError("Sleep returned before its deadline")
    assert time.monotonic() - start < 4
    deadline = time.monotonic() + 3
    while True:
        report = s.Report(pb.SleepRequest(key=key), timeout=5)
        if report.state != "sleeping":
            break
        assert time.monotonic() < deadline, report
        time.sleep(0.05)
    assert report.state == "interrupted", report
    assert report.exception == "StreamCancelled" and report.cancelled, report
    assert report.elapsed < 3, report  # its 5 s sleep did not run on


def check_large_messages(s, size=10 << 20):
    payload = bytes(range(256)) * (size // 256)
    assert s.Say(pb.Msg(payload=payload), timeout=60).payload == payload
    answer = next(s.Chat(iter([pb.Msg(payload=payload, number=1)]), timeout=60))
    assert answer.payload == payload and answer.number == 1


ALL = {"unary": check_unary, "server_streaming": check_server_streaming,
       "client_streaming": check_client_streaming, "bidi_ping_pong": check_bidi_ping_pong,
       "error_status": check_error_status, "large_messages": check_large_messages}


class Load:
    """`threads` client threads, each keeping `in_flight` unary calls going on one shared
    channel for `seconds`; counts calls and errors by status (for the flood-limit test)."""

    def __init__(self, chan, threads=4, in_flight=8, seconds=20.0):
        self.stub = stub(chan)
        self.threads, self.in_flight, self.seconds = threads, in_flight, seconds
        self.ok = 0
        self.errors = {}
        self.lock = threading.Lock()

    def _worker(self, stop_at):
        msg = pb.Msg(text="load", payload=b"x" * 100)
        while time.monotonic() < stop_at:
            futures = [self.stub.Say.future(msg, timeout=10) for _ in range(self.in_flight)]
            for f in futures:
                try:
                    f.result()
                    with self.lock:
                        self.ok += 1
                except grpc.RpcError as exc:
                    key = "%s: %s" % (exc.code(), exc.details())
                    with self.lock:
                        self.errors[key] = self.errors.get(key, 0) + 1

    def run(self):
        stop_at = time.monotonic() + self.seconds
        workers = [threading.Thread(target=self._worker, args=(stop_at,)) for _ in range(self.threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return self
