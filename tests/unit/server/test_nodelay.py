"""server.connection.nodelay: accepted TCP sockets send each coalesced write at once (no Nagle
wait for the client's delayed ACK); other socket families are left alone."""
import socket

from greenh2.server.connection import nodelay


def test_tcp_socket_gets_nodelay():
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        with socket.create_connection(lsock.getsockname()) as client:
            conn, _ = lsock.accept()
            with conn:
                assert not conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                nodelay(conn)
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                client.sendall(b"x")
                assert conn.recv(1) == b"x"


def test_unix_socket_is_left_alone():
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        nodelay(a)  # no error
        a.sendall(b"y")
        assert b.recv(1) == b"y"
