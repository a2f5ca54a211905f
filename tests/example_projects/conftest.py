"""Fixtures for the examples/django tests: one throw-away PostgreSQL cluster for the session
(tests/support/postgres.py), migrated, with an admin user.

PostgreSQL missing is a failure, not a skip: tests/run.sh installs Debian's `postgresql`, so a
machine without it did not run the suite's install step, and the reason is printed."""
import os
import subprocess
import sys

import pytest
from support import REPO_ROOT
from support.postgres import PostgresMissing, start_cluster
from support.server import subprocess_env

DJANGO_DIR = os.path.join(REPO_ROOT, "examples", "django")
APP = "greenh2_site.wsgi:application"

ADMIN_USER = "admin"
ADMIN_PASSWORD = "correct horse battery staple"


class DjangoDB:
    """The cluster plus the environment a server of the example needs."""

    def __init__(self, cluster):
        self.cluster = cluster

    def env(self, **extra):
        env = {"DJANGO_SECRET_KEY": "test-only-secret-key-0123456789",
               "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "DB_POOL_TIMEOUT": "30"}
        env.update(self.cluster.env())
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def manage(self, *args, env=None):
        p = subprocess.run([sys.executable, "manage.py", *args], cwd=DJANGO_DIR,
                           env=subprocess_env(env or self.env()), capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, "manage.py %s failed:\n%s\n%s" % (" ".join(args), p.stdout, p.stderr)
        return p.stdout


@pytest.fixture(scope="session")
def django_db():
    try:
        cluster = start_cluster()
    except PostgresMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        db = DjangoDB(cluster)
        db.manage("migrate", "--noinput")
        db.manage("createsuperuser", "--noinput", "--username", ADMIN_USER, "--email", "a@example.com",
                  env=db.env(DJANGO_SUPERUSER_PASSWORD=ADMIN_PASSWORD))
        yield db
    finally:
        cluster.stop()
        assert not os.path.exists(cluster.base)
