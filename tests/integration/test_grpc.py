"""examples/grpc served by `greenh2` (standalone), called by grpcio over h2c and TLS: every call
shape, error status with a non-ASCII message, a deadline that stops the handler, 10 MiB messages
(tests/support/grpc_client.py has the checks; tests/e2e/test_grpc_gunicorn.py runs them under
gunicorn)."""
import pytest
from support import grpc_client
from support.server import ServerProcess

pytestmark = pytest.mark.timeout(60)
APP = "examples.grpc.app:app"


@pytest.fixture(scope="module")
def servers(certs):
    tls = ServerProcess(["--certfile", certs.certfile, "--keyfile", certs.keyfile, APP])
    plain = ServerProcess([APP])
    with tls, plain:
        yield {"tls": tls, "h2c": plain}


@pytest.fixture(scope="module", params=["h2c", "tls"])
def stub(request, servers, certs):
    srv = servers[request.param]
    chan = grpc_client.channel(srv.port, certs.certfile if request.param == "tls" else None)
    yield grpc_client.stub(chan)
    chan.close()
    assert srv.alive()
    assert "Traceback" not in srv.stderr_text(), srv.stderr_text()[-3000:]


@pytest.mark.parametrize("shape", sorted(grpc_client.ALL))
def test_call(stub, shape):
    grpc_client.ALL[shape](stub)


def test_deadline_stops_the_handler(stub, request):
    grpc_client.check_deadline_stops_the_handler(stub, key=request.node.nodeid)
