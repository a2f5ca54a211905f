"""Size the psycopg 3 connection pool of one serving process from the environment.

Under greenh2 every HTTP/2 stream runs in its own greenlet, and Django gives each greenlet its
own database connection. Without a pool, a process holds one PostgreSQL connection per stream in
flight: `max_concurrent_streams` (100) x connections x processes, far past PostgreSQL's
`max_connections` (100 by default). With Django's pool (`OPTIONS["pool"]`), a process holds at
most `max_size` connections; streams beyond that wait for a free one (up to `timeout` seconds,
then the request fails with 503, see notes.middleware). So the sum over all processes of
`max_size` is what must fit under `max_connections`:

    max_size = min((DB_MAX_CONNECTIONS - DB_RESERVED_CONNECTIONS) // WEB_PROCESSES,
                   GREENH2_MAX_CONCURRENT_STREAMS)

The second term: behind a balancer holding one h2c connection per process, no more than
`max_concurrent_streams` requests can need a connection at once. `DB_POOL_MAX_SIZE` overrides
the computation. deploy/README.md ("Databases") explains the choice.
"""
from collections.abc import Mapping


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    number = int(value)
    if number < 0:
        raise ValueError("%s must be >= 0, got %r" % (name, value))
    return number


def serving_processes(env: Mapping[str, str]) -> int:
    """Processes sharing the database: WEB_PROCESSES (all instances x workers), else this
    instance's workers (greenh2's GREENH2_WORKERS, gunicorn's WEB_CONCURRENCY), else 1."""
    for name in ("WEB_PROCESSES", "GREENH2_WORKERS", "WEB_CONCURRENCY"):
        n = _int(env, name, 0)
        if n:
            return n
    return 1


def pool_options(env: Mapping[str, str]) -> dict[str, float]:
    """The dict for DATABASES["default"]["OPTIONS"]["pool"] (psycopg_pool.ConnectionPool)."""
    max_size = _int(env, "DB_POOL_MAX_SIZE", 0)
    if not max_size:
        budget = _int(env, "DB_MAX_CONNECTIONS", 100) - _int(env, "DB_RESERVED_CONNECTIONS", 10)
        streams = _int(env, "GREENH2_MAX_CONCURRENT_STREAMS", 100)
        max_size = max(1, min(budget // serving_processes(env), streams))
    min_size = min(_int(env, "DB_POOL_MIN_SIZE", 2), max_size)
    return {
        "min_size": min_size,
        "max_size": max_size,
        # how long a request waits for a free connection before it gets a 503
        "timeout": float(env.get("DB_POOL_TIMEOUT", "") or 10.0),
    }
