"""Back-office pages of the reports app, under /admin/tessera/reports/."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, path

from tessera.reports import views

app_name = "reports"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", admin.site.admin_view(views.index), name="index"),
    path("<slug:key>/", admin.site.admin_view(views.report), name="report"),
]
