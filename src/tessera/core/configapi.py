"""What the configuration endpoints of the management API share (issue 17).

The back office's forms behind the API: one validation, one set of messages. A configuration endpoint
builds the same Django form the back-office page uses from its JSON payload; when the form refuses, the
answer is 422 `invalid_fields` whose `errors` list the form's own messages per field, in the shape of
ninja's schema errors (`loc`, `msg`, `type`), so a client reads both alike.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.db.models import Model, QuerySet
from django.utils.translation import gettext_lazy as _

from tessera.core.errors import NotFound, ValidationFailed

M = TypeVar("M", bound=Model)


def validated(form: forms.BaseForm) -> dict[str, Any]:
    """The form's cleaned data, or ValidationFailed (422 `invalid_fields`) with its messages."""
    if form.is_valid():
        return form.cleaned_data
    errors = [
        {
            "loc": ["body"] if field == NON_FIELD_ERRORS else ["body", field],
            "msg": " ".join(str(message) for message in error.messages),
            "type": error.code or "invalid",
        }
        for field, field_errors in form.errors.as_data().items()
        for error in field_errors
    ]
    raise ValidationFailed(_("Some fields are not valid."), code="invalid_fields", errors=errors)


def body_example(example: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` giving an operation's JSON request body an example, for client generators."""
    return {"requestBody": {"content": {"application/json": {"example": example}}}}


def one_of(rows: QuerySet[M], pk: int, *, missing: NotFound, lock: bool = False) -> M:
    """Row `pk` of `rows` (a merchant's rows: another merchant's id is not among them), locked for an
    update when `lock`; else `missing`, a 404."""
    found = (rows.select_for_update() if lock else rows).filter(pk=pk).first()
    if found is None:
        raise missing
    return found
