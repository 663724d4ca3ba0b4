"""The user's export files (issue 16), under /admin/tessera/exports/."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, path

from tessera.core import views

app_name = "exports"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", admin.site.admin_view(views.my_exports), name="list"),
    path("download/<str:token>/", admin.site.admin_view(views.download_export), name="download"),
]
