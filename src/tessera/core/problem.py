"""RFC 9457 problem details, the one error shape of the API."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.utils.translation import get_language
from pydantic import ConfigDict

from tessera.core.errors import DomainError
from tessera.core.schemas import Schema

CONTENT_TYPE = "application/problem+json"
#: The members RFC 9457 defines, and our `code`: an error's own fields never take these names.
RESERVED = frozenset({"type", "title", "status", "detail", "instance", "code"})


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


#: The error answers every endpoint may give, for the OpenAPI document (413 and 500, which any endpoint
#: may give, are added to every operation by `tessera.api.TesseraAPI`).
ERRORS: dict[int, Any] = {code: Problem for code in (400, 401, 403, 404, 409, 422, 423)}
#: The error answers of an update that names the version it read (`tessera.core.etag`): 412 when it
#: changed since, 428 without `If-Match`.
CHANGE_ERRORS: dict[int, Any] = {**ERRORS, 412: Problem, 428: Problem}


def extension_members(fields: Mapping[str, Any]) -> dict[str, Any]:
    """An error's own fields as extension members: a reserved name `k` travels as `resource_k` (a sale's
    `status` is `resource_status`), so it can never replace the problem's own members."""
    return {f"resource_{key}" if key in RESERVED else key: value for key, value in fields.items()}


def problem(
    request: HttpRequest,
    *,
    status: int,
    code: str,
    detail: str,
    extension: Mapping[str, Any] | None = None,
    **extra: Any,
) -> HttpResponse:
    """The problem+json answer. `extension` (and `extra`) are the error's own members, renamed away from
    the reserved ones."""
    body = {
        "type": f"https://tessera.dev/problems/{code}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "code": code,
        "detail": detail,
        "instance": request.path,
        **extension_members({**(extension or {}), **extra}),
    }
    response = HttpResponse(json.dumps(body, cls=DjangoJSONEncoder), status=status, content_type=CONTENT_TYPE)
    response["Content-Language"] = get_language() or "en"
    return response


def domain_problem(request: HttpRequest, exc: DomainError) -> HttpResponse:
    """The answer for a rule that said no: its status, code, translated message and its own fields."""
    return problem(request, status=exc.status, code=exc.code, detail=str(exc.message), extension=exc.detail)
