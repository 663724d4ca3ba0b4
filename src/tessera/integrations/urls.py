"""Inbound webhooks from the merchant's shop (signed, not API-key authenticated)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from tessera.integrations import views

app_name = "integrations"
urlpatterns: list[URLPattern | URLResolver] = [path("<uuid:token>/", views.receive, name="receive")]
