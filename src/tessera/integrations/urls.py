"""Inbound webhooks from the merchant's shop (signed, not API-key authenticated)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

app_name = "integrations"
urlpatterns: list[URLPattern | URLResolver] = []
