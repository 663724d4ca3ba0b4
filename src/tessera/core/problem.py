"""RFC 9457 problem details, the one error shape of the API."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.utils.translation import get_language

CONTENT_TYPE = "application/problem+json"


def problem(request: HttpRequest, *, status: int, code: str, detail: str, **extra: Any) -> HttpResponse:
    body = {
        "type": f"https://tessera.dev/problems/{code}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "code": code,
        "detail": detail,
        "instance": request.path,
        **extra,
    }
    response = HttpResponse(json.dumps(body, cls=DjangoJSONEncoder), status=status, content_type=CONTENT_TYPE)
    response["Content-Language"] = get_language() or "en"
    return response
