"""The WSGI callable greenh2 and gunicorn serve: `greenh2 greenh2_site.wsgi:application`.

greenh2 (and `gunicorn -k greenh2.worker`) call `gevent.monkey.patch_all()` before importing this
module, so psycopg, imported later by Django, sees the patched `select` and waits for PostgreSQL
cooperatively (one stream waiting on the database never blocks the others)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "greenh2_site.settings")

application = get_wsgi_application()
