"""max_body_size under `gunicorn -k greenh2.worker`: gunicorn has no setting for it, so it comes
from GREENH2_MAX_BODY_SIZE (the environment, or `raw_env` in a gunicorn config file)."""
import pytest
from support import tools


@pytest.mark.parametrize("env_via", ["environment", "raw_env"])
def test_gunicorn_worker_enforces_max_body_size(gunicorn, env_via):
    if env_via == "environment":
        g = gunicorn(app="bodycap_app:app", workers=1, env={"GREENH2_MAX_BODY_SIZE": "1000"},
                     ready_path="/ignore")
    else:
        g = gunicorn(["--env", "GREENH2_MAX_BODY_SIZE=1000"], app="bodycap_app:app", workers=1,
                     ready_path="/ignore")
    for proto in (["--http1.1"], ["--http2-prior-knowledge"]):
        r = tools.curl(proto + ["--data-binary", "@-", g.url("/read")], input=b"x" * 2000)
        assert (r.status, r.body) == (413, "Content Too Large\n"), proto
        r = tools.curl(proto + ["-X", "POST", "-T", "-", g.url("/blocks")], input=b"x" * 2000)
        assert r.status == 413, proto
        r = tools.curl(proto + ["--data-binary", "@-", g.url("/read")], input=b"x" * 1000)
        assert (r.status, r.body) == (200, "read 1000\n"), proto
