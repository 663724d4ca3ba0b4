"""The staff scanner page (/staff/scan/) and the JSON endpoints it calls (H1)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from tessera.backoffice import scanner

app_name = "scanner"
urlpatterns: list[URLPattern | URLResolver] = [
    path("scan/", scanner.scan, name="scan"),
    path("scan/store/", scanner.choose_store, name="choose_store"),
    path("scan/lookup/", scanner.lookup, name="lookup"),
    path("scan/today/", scanner.today, name="today"),
    path("scan/add/", scanner.add, name="add"),
    path("scan/deduct/", scanner.deduct, name="deduct"),
]
