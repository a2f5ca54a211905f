"""URLs: the admin, and the notes app's JSON API (notes/views.py)."""
from django.contrib import admin
from django.urls import path
from notes import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/notes", views.notes, name="notes"),
    path("api/notes/<int:note_id>", views.note, name="note"),
    path("api/db-wait", views.db_wait, name="db-wait"),
    path("api/pool", views.pool, name="pool"),
]
