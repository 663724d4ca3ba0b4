"""The merchant dashboard on the back office's home page (Unfold's `DASHBOARD_CALLBACK`).

Settings: `UNFOLD["DASHBOARD_CALLBACK"] = "tessera.backoffice.dashboard.dashboard_callback"`. The
admin index template (`backoffice/admin_index.html`, set in `BackofficeConfig.ready`) shows the dashboard
when the callback put one in the context, and Unfold's plain application list otherwise. The same page is
served at /admin/tessera/dashboard/, where platform operators pick a merchant.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from tessera.backoffice.selectors import Scope
from tessera.backoffice.views import dashboard_context
from tessera.tenancy.admin_base import request_staff


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    staff = request_staff(request)
    if staff is None:  # a platform operator: the plain index, with a link to pick a merchant
        context["dashboard_operator"] = bool(request.user.is_superuser)
        return context
    context["dashboard"] = dashboard_context(request, Scope.of_staff(staff))
    return context
