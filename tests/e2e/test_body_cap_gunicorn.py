"""max_body_size under `gunicorn -k greenh2.worker`: gunicorn has no setting for it, so it comes
from GREENH2_MAX_BODY_SIZE (the environment, or `raw_env` in a gunicorn config file)."""
import pytest
from support import tools


@pytest.mark.parametrize("env_via", ["environment", "raw_env"])
def test_gunicorn_worker_enforces_max_body_size(gunicorn, env_via, tmp_path):
    if env_via == "environment":
        g = gunicorn(app="bodycap_app:app", workers=1, env={"GREENH2_MAX_BODY_SIZE": "1000"},
                     ready_path="/ignore")
    else:
        g = gunicorn(["--env", "GREENH2_MAX_BODY_SIZE=1000"], app="bodycap_app:app", workers=1,
                     ready_path="/ignore")
    r = tools.curl(["--http1.1", "--data-binary", "@-", g.url("/read")], input=b"x" * 2000)
    assert (r.status, r.body) == (413, "Content Too Large\n")
    r = tools.curl(["--http1.1", "-X", "POST", "-T", "-", g.url("/blocks")], input=b"x" * 2000)
    assert r.status == 413
    body = tmp_path / "body"
    body.write_bytes(b"x" * 2000)
    out = tools.nghttp(["-v", "-d", str(body), g.url("/read")]).check().stdout  # h2c (see
    assert ":status: 413" in out and "Content Too Large" in out  # test_body_cap on curl)
    for proto, version in ((["--http1.1"], "1.1"), (["--http2-prior-knowledge"], "2")):
        r = tools.curl(proto + ["--data-binary", "@-", g.url("/read")], input=b"x" * 1000)
        assert (r.status, r.http_version, r.body) == (200, version, "read 1000\n")
