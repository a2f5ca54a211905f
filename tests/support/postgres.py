"""A throw-away PostgreSQL cluster for tests: `initdb` and `pg_ctl` in a temporary directory,
reachable only through a unix socket in that directory (`listen_addresses = ''`), stopped and
deleted at the end.

PostgreSQL refuses to run as root, and the suite often runs as root: the cluster then runs as
the `postgres` system user that Debian's package creates (`runuser`/`setpriv`), and the
directory is given to that user. The cluster keeps PostgreSQL's defaults (`max_connections`
100), because the Django tests check behaviour against those defaults. PeakConnections samples
how many connections a server under test holds (tests/example_projects, benchmarks/django_db.py).
"""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

DEBIAN_PACKAGE = "postgresql"


class PostgresMissing(AssertionError):
    """PostgreSQL's server binaries are not installed (tests/run.sh installs them)."""


def find_bindir() -> str:
    """The directory holding initdb, pg_ctl and postgres: Debian's newest
    /usr/lib/postgresql/N/bin, else wherever `pg_config --bindir` or PATH's initdb point."""
    def version(path: str) -> float:
        try:
            return float(path.split("/")[-3])
        except ValueError:
            return 0.0
    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True):
        return os.path.dirname(initdb)
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(out.stdout.strip())
    if shutil.which("initdb"):
        candidates.append(os.path.dirname(os.path.realpath(shutil.which("initdb"))))
    for d in candidates:
        if d and all(os.access(os.path.join(d, p), os.X_OK) for p in ("initdb", "pg_ctl", "postgres")):
            return d
    raise PostgresMissing(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian package %r "
        "(tests/run.sh installs it)" % DEBIAN_PACKAGE)


def _as_user() -> tuple[list[str], int | None, int | None]:
    """(command prefix, uid, gid) to run the server unprivileged when we are root."""
    if os.geteuid() != 0:
        return [], None, None
    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        if shutil.which("runuser"):
            return ["runuser", "-u", name, "--"], pw.pw_uid, pw.pw_gid
        return (["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid, "--init-groups"],
                pw.pw_uid, pw.pw_gid)
    raise PostgresMissing("running as root and no 'postgres' (or 'nobody') user to run PostgreSQL as")


@dataclass
class Cluster:
    """A running cluster: connect with host=socket_dir, user=user, dbname=dbname."""
    base: str
    bindir: str
    prefix: list
    user: str = "greenh2"
    dbname: str = "greenh2_test"
    port: int = 5432  # only names the socket file: listen_addresses is empty

    @property
    def datadir(self) -> str:
        return os.path.join(self.base, "data")

    @property
    def socket_dir(self) -> str:
        return self.base

    @property
    def log_path(self) -> str:
        return os.path.join(self.base, "postgres.log")

    def env(self) -> dict:
        """libpq's variables for this cluster (the Django example reads the same ones)."""
        return {"PGHOST": self.socket_dir, "PGPORT": str(self.port), "PGUSER": self.user,
                "PGDATABASE": self.dbname}

    def conninfo(self, dbname: str | None = None) -> str:
        return "host=%s port=%d user=%s dbname=%s" % (self.socket_dir, self.port, self.user,
                                                      dbname or self.dbname)

    def _run(self, args: list, timeout: float = 60.0) -> str:
        p = subprocess.run(self.prefix + args, capture_output=True, text=True, timeout=timeout,
                           cwd=self.base)
        if p.returncode != 0:
            raise RuntimeError("%s failed (rc=%d)\n%s\n%s\n--- server log ---\n%s" % (
                " ".join(args), p.returncode, p.stdout[-3000:], p.stderr[-3000:], self.log()[-3000:]))
        return p.stdout

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self) -> "Cluster":
        self._run([os.path.join(self.bindir, "initdb"), "-D", self.datadir, "-U", self.user,
                   "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
        opts = "-c listen_addresses='' -c unix_socket_directories='%s' -p %d -c fsync=off" % (
            self.socket_dir, self.port)
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-l", self.log_path,
                   "-o", opts, "-w", "-t", "60", "start"])
        self._run([os.path.join(self.bindir, "psql"), "-h", self.socket_dir, "-p", str(self.port),
                   "-U", self.user, "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                   "-c", "CREATE DATABASE %s" % self.dbname])
        return self

    def stop(self) -> None:
        if os.path.exists(os.path.join(self.datadir, "postmaster.pid")):
            try:
                self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-m", "fast",
                           "-w", "-t", "30", "stop"])
            except (RuntimeError, subprocess.TimeoutExpired):
                self._kill()
        shutil.rmtree(self.base, ignore_errors=True)

    def _kill(self) -> None:
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as f:
                pid = int(f.readline())
            os.kill(pid, 9)
            time.sleep(0.5)
        except (OSError, ValueError):
            pass


def start_cluster() -> Cluster:
    """initdb + start in a fresh directory under the system temp dir (pytest's tmp_path is
    private to root, which the postgres user could not enter); PostgresMissing when absent."""
    bindir = find_bindir()
    prefix, uid, gid = _as_user()
    base = tempfile.mkdtemp(prefix="greenh2-pg-")
    if uid is not None:
        os.chown(base, uid, gid)
    os.chmod(base, 0o700)
    cluster = Cluster(base=base, bindir=bindir, prefix=prefix)
    try:
        return cluster.start()
    except BaseException:
        cluster.stop()
        raise


class PeakConnections:
    """Samples, from a thread of its own, how many PostgreSQL client backends carry one
    application_name (the server under test's, set with libpq's PGAPPNAME); the sampler's own
    connection is not counted. Use as a context manager; `peak` after the block."""

    def __init__(self, cluster: Cluster, application_name: str, interval: float = 0.01) -> None:
        self.conninfo = cluster.conninfo()
        self.name = application_name
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg  # the test extra (and the benchmark venv) have it; start_cluster does not need it
        with psycopg.connect(self.conninfo, autocommit=True, application_name="sampler") as conn:
            while not self._stop.is_set():
                row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                                   "'client backend' AND application_name = %s", [self.name]).fetchone()
                self.peak = max(self.peak, row[0] if row else 0)
                self.samples += 1
                self._stop.wait(self.interval)

    def __enter__(self) -> "PeakConnections":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
