"""Settings for the Django example: everything that differs between machines comes from the
environment; the database is PostgreSQL through psycopg 3 with Django's connection pool, sized
in greenh2_site/pool.py."""
import os
from pathlib import Path

from .pool import pool_options

BASE_DIR = Path(__file__).resolve().parent.parent
env = os.environ

DEBUG = env.get("DJANGO_DEBUG", "") == "1"
SECRET_KEY = env.get("DJANGO_SECRET_KEY") or ("insecure-dev-only" if DEBUG else "")
if not SECRET_KEY:
    raise RuntimeError("set DJANGO_SECRET_KEY (or DJANGO_DEBUG=1 for a development key)")
ALLOWED_HOSTS = [h for h in env.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in env.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "notes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "notes.middleware.PoolTimeoutMiddleware",
]

ROOT_URLCONF = "greenh2_site.urls"
WSGI_APPLICATION = "greenh2_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# libpq's own variable names, so psql and the app read the same ones. PGHOST may be a host name
# or the directory of PostgreSQL's unix socket (e.g. /var/run/postgresql).
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": env.get("PGHOST", "/var/run/postgresql"),
        "PORT": env.get("PGPORT", ""),
        "NAME": env.get("PGDATABASE", "greenh2_example"),
        "USER": env.get("PGUSER", "greenh2_example"),
        "PASSWORD": env.get("PGPASSWORD", ""),
        # The pool owns connection reuse: Django refuses a pool with persistent connections
        # (CONN_MAX_AGE must stay 0); at the end of every request the connection goes back to
        # the pool instead of being closed.
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": env.get("DB_HEALTH_CHECKS", "") == "1",
        "OPTIONS": {"pool": pool_options(env)},
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = env.get("DJANGO_STATIC_ROOT") or None

# Behind a TLS-terminating balancer greenh2 sets wsgi.url_scheme from X-Forwarded-Proto
# (--forwarded-allow-ips), so secure cookies work the same as with TLS at greenh2.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.get("DJANGO_SECURE_COOKIES", "") == "1"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": env.get("DJANGO_LOG_LEVEL", "WARNING")},
}
