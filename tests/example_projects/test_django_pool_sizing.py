"""examples/django/greenh2_site/pool.py: the pool size one process gets from the environment,
so that every process's pool together fits under PostgreSQL's max_connections (no database
needed; the live checks are in test_django.py)."""
import importlib.util
import os

import pytest

from .conftest import DJANGO_DIR

spec = importlib.util.spec_from_file_location("example_pool", os.path.join(DJANGO_DIR, "greenh2_site", "pool.py"))
pool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pool)


def max_size(**env):
    return pool.pool_options({k: str(v) for k, v in env.items()})["max_size"]


def test_one_process_gets_postgresql_defaults_minus_the_reserve():
    assert pool.pool_options({}) == {"min_size": 2, "max_size": 90, "timeout": 10.0}


@pytest.mark.parametrize("env, expected", [
    ({"WEB_PROCESSES": 4}, 22),                       # 4 x 22 = 88 <= 100 - 10
    ({"GREENH2_WORKERS": 3}, 30),                     # greenh2 --workers 3 through its env var
    ({"WEB_CONCURRENCY": 2}, 45),                     # gunicorn's worker count variable
    ({"WEB_PROCESSES": 8, "GREENH2_WORKERS": 2}, 11),  # all instances count, not only this one
    ({"DB_MAX_CONNECTIONS": 400, "DB_RESERVED_CONNECTIONS": 20, "WEB_PROCESSES": 2}, 100),
    ({"GREENH2_MAX_CONCURRENT_STREAMS": 16}, 16),     # more than the streams one h2c link carries is idle
    ({"DB_MAX_CONNECTIONS": 12, "WEB_PROCESSES": 8}, 1),
    ({"DB_POOL_MAX_SIZE": 7, "WEB_PROCESSES": 100}, 7),
])
def test_max_size_is_the_budget_shared_by_every_process(env, expected):
    got = max_size(**env)
    assert got == expected
    processes = pool.serving_processes({k: str(v) for k, v in env.items()})
    if "DB_POOL_MAX_SIZE" not in env and expected > 1:
        budget = int(env.get("DB_MAX_CONNECTIONS", 100)) - int(env.get("DB_RESERVED_CONNECTIONS", 10))
        assert got * processes <= budget


def test_min_size_never_exceeds_max_size_and_timeout_is_read():
    opts = pool.pool_options({"DB_POOL_MAX_SIZE": "1", "DB_POOL_MIN_SIZE": "5", "DB_POOL_TIMEOUT": "0.5"})
    assert opts == {"min_size": 1, "max_size": 1, "timeout": 0.5}


def test_nonsense_is_an_error_at_startup():
    with pytest.raises(ValueError):
        pool.pool_options({"WEB_PROCESSES": "-1"})
    with pytest.raises(ValueError):
        pool.pool_options({"DB_POOL_MAX_SIZE": "many"})
