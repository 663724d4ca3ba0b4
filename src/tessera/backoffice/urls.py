"""Back-office pages in the Unfold layout: dashboard, member 360, cashier screen (/admin/tessera/)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, path

from tessera.backoffice import views

app_name = "backoffice"
urlpatterns: list[URLPattern | URLResolver] = [
    path("dashboard/", admin.site.admin_view(views.dashboard), name="dashboard"),
    path("members/<int:pk>/", admin.site.admin_view(views.member_360), name="member_360"),
    path("cashier/", admin.site.admin_view(views.cashier), name="cashier"),
    path("cashier/sales/<int:pk>/", admin.site.admin_view(views.cashier_confirm), name="cashier_confirm"),
    path(
        "cashier/sales/<int:pk>/receipt/",
        admin.site.admin_view(views.cashier_receipt),
        name="cashier_receipt",
    ),
]
