"""Member portal (/m/<merchant>/) and website widget (/widget/)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

app_name = "portal"
urlpatterns: list[URLPattern | URLResolver] = []
