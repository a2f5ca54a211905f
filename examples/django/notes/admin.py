"""Notes in the admin (log in at /admin/ with a user from `manage.py createsuperuser`)."""
from django.contrib import admin

from .models import Note


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "created")
    search_fields = ("title",)
