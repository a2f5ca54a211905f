"""gunicorn config file for the e2e arbiters: log a marker when a worker has loaded the app
(post_worker_init runs in the child right before the worker's run()), so tests can wait until
every worker is really serving instead of just forked."""


def post_worker_init(worker):
    worker.log.info("e2e-ready pid=%d", worker.pid)
