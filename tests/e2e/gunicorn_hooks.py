"""gunicorn config file for the e2e arbiters.

* post_worker_init logs a marker when a worker has loaded the app (it runs in the child right
  before the worker's run()), so tests can wait until every worker really serves, not just forked;
* with E2E_LOG_REQUESTS=1 in the environment, pre_request/post_request log what gunicorn's hooks
  are handed (the worker's request/response shims)."""
import os


def post_worker_init(worker):
    worker.log.info("e2e-ready pid=%d", worker.pid)


def pre_request(worker, req):
    if os.environ.get("E2E_LOG_REQUESTS"):
        worker.log.info("e2e-pre %s %s %s %r", req.method, req.path, req.query, tuple(req.version))


def post_request(worker, req, environ, resp):
    if os.environ.get("E2E_LOG_REQUESTS"):
        worker.log.info("e2e-post %s %s %r %s %s", req.method, req.path, tuple(req.version),
                        resp.status_code, environ.get("SERVER_PROTOCOL"))
