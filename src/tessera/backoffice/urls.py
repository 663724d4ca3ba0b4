"""Back-office pages in the Unfold layout: dashboard, member 360, cashier screen, two-factor login
(/admin/tessera/)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, path

from tessera.backoffice import two_factor, views

app_name = "backoffice"
urlpatterns: list[URLPattern | URLResolver] = [
    path("dashboard/", admin.site.admin_view(views.dashboard), name="dashboard"),
    path("members/<int:pk>/", admin.site.admin_view(views.member_360), name="member_360"),
    path(
        "members/<int:pk>/phone-move/",
        admin.site.admin_view(views.member_phone_move),
        name="member_phone_move",
    ),
    path("cashier/", admin.site.admin_view(views.cashier), name="cashier"),
    path("cashier/sales/<int:pk>/", admin.site.admin_view(views.cashier_confirm), name="cashier_confirm"),
    path(
        "cashier/sales/<int:pk>/receipt/",
        admin.site.admin_view(views.cashier_receipt),
        name="cashier_receipt",
    ),
    # B4: not behind admin_view, which needs the second step done; tenancy's TwoFactorMiddleware guards them.
    path("two-factor/", two_factor.manage, name="two_factor"),
    path("two-factor/verify/", two_factor.verify, name="two_factor_verify"),
]
