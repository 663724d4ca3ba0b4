"""The staff scanner page (/staff/scan/)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

app_name = "scanner"
urlpatterns: list[URLPattern | URLResolver] = []
