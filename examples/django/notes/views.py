"""The JSON views: notes (ORM write and read), a view that waits in PostgreSQL, and the pool's
state. The API is for programs, so it is exempt from CSRF (the admin keeps its protection)."""
import json

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods
from psycopg import waiting

from .models import Note

MAX_WAIT = 5.0  # seconds; the wait view must not become a way to hold connections forever


@csrf_exempt
@require_http_methods(["GET", "POST"])
def notes(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        try:
            data = json.loads(request.body)
            title = str(data["title"])[:200]
        except (ValueError, KeyError, TypeError):
            return JsonResponse({"error": 'expected JSON {"title": ..., "body": ...}'}, status=400)
        note = Note.objects.create(title=title, body=str(data.get("body", "")))
        return JsonResponse(note.as_dict(), status=201)
    return JsonResponse({"notes": [n.as_dict() for n in Note.objects.all()[:50]]})


@require_GET
def note(request: HttpRequest, note_id: int) -> JsonResponse:
    return JsonResponse(get_object_or_404(Note, pk=note_id).as_dict())


@require_GET
def db_wait(request: HttpRequest) -> JsonResponse:
    """Wait in the database (`pg_sleep`), like a slow query: the stream's greenlet yields while
    PostgreSQL works, so other streams run."""
    try:
        seconds = min(max(float(request.GET.get("s", "0.05")), 0.0), MAX_WAIT)
    except ValueError:
        return JsonResponse({"error": "s must be a number of seconds"}, status=400)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s), pg_backend_pid()", [seconds])
        _, backend_pid = cursor.fetchone()
    return JsonResponse({"waited": seconds, "backend_pid": backend_pid,
                         "protocol": request.META.get("SERVER_PROTOCOL")})


@require_GET
def pool(request: HttpRequest) -> JsonResponse:
    """This process's pool: its options, psycopg_pool's counters, and psycopg's wait function
    (anything but wait_c means psycopg detected gevent and waits cooperatively)."""
    connection.ensure_connection()  # opens the pool on the first request
    db_pool = connection.pool
    return JsonResponse({
        "options": connection.settings_dict["OPTIONS"].get("pool"),
        "stats": db_pool.get_stats() if db_pool is not None else None,
        "wait_function": waiting.wait.__name__,
    })
