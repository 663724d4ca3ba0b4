"""Back-office pages of the marketing app, under /admin/tessera/marketing/."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

app_name = "marketing"
urlpatterns: list[URLPattern | URLResolver] = []
