"""The amount preview: what typed money reads as, before anything is saved (issue 14).

The scanner and the add-points form show "= 150.000 ₫" beside the amount field as staff type. The
page asks here rather than re-implementing the rules in JavaScript: `parse_money` stays the one
authority, and the figure shown is the one the form will save.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from tessera.core.errors import DomainError
from tessera.core.formatting import format_money
from tessera.core.money import MAX_TEXT, parse_money
from tessera.core.problem import domain_problem, problem


@require_GET
def money_preview(request: HttpRequest) -> HttpResponse:
    """GET ?text=150.000 → {"amount": 150000, "display": "150.000 ₫"} in the staff member's currency
    and language; text that does not read is a problem+json with the parser's code and message."""
    # `request.staff` is set by tenancy's StaffLocaleMiddleware for signed-in staff.
    staff = getattr(request, "staff", None)
    if not request.user.is_authenticated or staff is None:
        return problem(request, status=403, code="permission_denied", detail=_("Sign in again."))
    currency = staff.merchant.currency
    try:
        amount = parse_money(request.GET.get("text", "")[: MAX_TEXT + 1], currency)
    except DomainError as exc:
        return domain_problem(request, exc)
    return JsonResponse({"amount": amount, "display": format_money(amount, currency)})
