"""The Flask JSON API of issue 18's "flask-json" scenario: `GET /` returns `jsonify` of 20 items.

Why this module exists: hello measures the server alone; real WSGI apps are frameworks, and
Flask is the one most people run. This small app (routing, request context, JSON encoding of
a list of 20 dicts per request) shows what a server's per-request overhead is worth next to a
framework's. It lives apart from benchmarks/apps.py so that the other scenarios never import
Flask; every server is started with `benchmarks.flask_json:app`.
"""
from __future__ import annotations

from flask import Flask, Response, jsonify

app = Flask(__name__)
app.json.sort_keys = False  # type: ignore[attr-defined]  # encode the dicts as built

ITEMS = [{"id": i, "name": f"item-{i}", "price": round(1.5 * i, 2), "tags": ["a", "b"],
          "in_stock": i % 3 != 0} for i in range(20)]


@app.get("/")
def items() -> Response:
    """The 20 items as JSON (a fresh jsonify per request, as an API view would do)."""
    return jsonify(items=ITEMS, count=len(ITEMS))
