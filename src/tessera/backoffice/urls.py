"""Back-office pages in the Unfold layout: dashboard, member 360, cashier screen."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

app_name = "backoffice"
urlpatterns: list[URLPattern | URLResolver] = []
