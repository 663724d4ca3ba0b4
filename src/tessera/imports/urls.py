"""Back-office pages of the imports app, under /admin/tessera/imports/."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, path

from tessera.imports import views

app_name = "imports"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", admin.site.admin_view(views.import_list), name="list"),
    path("<int:pk>/", admin.site.admin_view(views.job_detail), name="job"),
    path("<int:pk>/mapping/", admin.site.admin_view(views.mapping), name="mapping"),
    path("<int:pk>/progress/", admin.site.admin_view(views.job_progress), name="progress"),
    path("<int:pk>/apply/", admin.site.admin_view(views.apply), name="apply"),
    path("<int:pk>/cancel/", admin.site.admin_view(views.cancel), name="cancel"),
    path("<int:pk>/errors.<str:fmt>", admin.site.admin_view(views.error_report), name="errors"),
    path("template-<str:language>.xlsx", admin.site.admin_view(views.template_file), name="template"),
]
