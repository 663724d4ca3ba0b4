"""The inbound webhook address of a shop connection: /hooks/<token>/ (K1). Signed, not logged in."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from tessera.core.errors import DomainError
from tessera.core.problem import problem
from tessera.integrations import services


@csrf_exempt
@require_POST
def receive(request: HttpRequest, token: str) -> HttpResponse:
    """200 with the outcome once the delivery is stored (business failures included: a retry by the
    shop would not help; staff replay it). 401 forged or stale, 404 unknown address: nothing changed."""
    try:
        delivery = services.receive(token=token, body=request.body, headers=request.headers)
    except DomainError as exc:
        return problem(request, status=exc.status, code=exc.code, detail=str(exc.message))
    return JsonResponse({"delivery": delivery.pk, "outcome": delivery.outcome, "code": delivery.error_code})
