"""grpcio's own server for examples/grpc's EchoService (only the unary `Say` the benchmark
calls), the server gRPC users would run instead of a WSGI app: `grpc.server` with a thread pool.

    python -m benchmarks.grpc_ref_server PORT [MAX_WORKERS]
"""
from __future__ import annotations

import sys
from concurrent import futures

import grpc

from examples.grpc import echo_pb2_grpc as pb_grpc
from examples.grpc.echo_pb2 import Msg


class Echo(pb_grpc.EchoServiceServicer):
    def Say(self, request: Msg, context: grpc.ServicerContext) -> Msg:
        return request


def main() -> None:
    port = int(sys.argv[1])
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    pb_grpc.add_EchoServiceServicer_to_server(Echo(), server)
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    print("grpc-ref ready on %d" % port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
