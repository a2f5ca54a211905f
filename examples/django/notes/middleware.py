"""A request that waited `OPTIONS["pool"]["timeout"]` seconds for a database connection gets
503 with Retry-After instead of a 500 traceback: the pool is full, the app is not broken, and a
balancer or client may retry elsewhere or later."""
from django.db import OperationalError
from django.http import HttpRequest, JsonResponse
from psycopg_pool import PoolTimeout


class PoolTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception):
        if isinstance(exc, OperationalError) and isinstance(exc.__cause__, PoolTimeout):
            response = JsonResponse({"error": "database busy: no pool connection in time"}, status=503)
            response["Retry-After"] = "1"
            return response
        return None
