"""Where a staff user lands after logging in: their role's home page (issue 14).

Permissions decide, as everywhere (B1), not role names: a user who may ring up sales and may see no
report — a cashier — starts on the till; everyone else on the merchant dashboard (the admin index).
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from tessera.backoffice.views import CASHIER_PERMISSION
from tessera.tenancy.admin_base import request_staff


def home_url(request: HttpRequest) -> str | None:
    """The till for a user whose work is the till; None for the dashboard."""
    user = request.user
    if request_staff(request) is None or not user.has_perm(CASHIER_PERMISSION):
        return None
    if any(permission.startswith("reports.view_") for permission in user.get_all_permissions()):
        return None
    return reverse("backoffice:cashier")


def sees_dashboard(request: HttpRequest) -> bool:
    """The sidebar's Dashboard link: for those whose home page is the dashboard."""
    return home_url(request) is None


def index(request: HttpRequest) -> HttpResponse:
    """The admin home (/admin/): the role's home page."""
    url = home_url(request)
    if url is not None:
        return HttpResponseRedirect(url)
    return admin.site.index(request)
