"""RFC 9457 problem details, the one error shape of the API."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.utils.translation import get_language
from ninja import Schema
from pydantic import ConfigDict

CONTENT_TYPE = "application/problem+json"


class Problem(Schema):
    """RFC 9457 problem details; `code` is stable, `detail` is translated. Rules may add fields."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "https://tessera.dev/problems/insufficient_balance",
                    "title": "Insufficient balance",
                    "status": 409,
                    "code": "insufficient_balance",
                    "detail": "Not enough balance: 120 available, 500 requested.",
                    "instance": "/api/v1/transactions",
                    "spendable": 120,
                    "requested": 500,
                }
            ]
        },
    )

    type: str
    title: str
    status: int
    code: str
    detail: str
    instance: str


#: The error answers every endpoint may give, for the OpenAPI document.
ERRORS: dict[int, Any] = {code: Problem for code in (400, 401, 403, 404, 409, 422, 423)}


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
