"""The back office's forms behind the API (issue 17): one validation, one set of messages.

An API change is applied to the same ModelForm a back-office page shows: the form starts from the
object as it stands (its initial values), the fields the client sent replace theirs, and the form's
errors come back as a 422 problem with the same messages, per field, in the shape of ninja's schema
errors (`loc`, `msg`, `type`), so that a client reads both alike. Also what every configuration
endpoint needs besides: a merchant's row by id (`one_of`) and a request body's example (`body_example`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import models
from django.db.models import Model, QuerySet

from tessera.core.errors import NotFound, ValidationFailed
from tessera.core.money import MoneyField

F = TypeVar("F", bound=forms.ModelForm)
M = TypeVar("M", bound=Model)


def for_api(form_class: type[F], **attributes: Any) -> type[F]:
    """The back office's form without its operator-only `merchant` field (the API key names the
    merchant), with `attributes` set on the class (a form's `merchant_id`, as the admin sets `staff`)."""
    base: Any = form_class.Meta  # type: ignore[attr-defined]
    meta = type("Meta", (base,), {"fields": [name for name in base.fields if name != "merchant"]})
    return type(f"Api{form_class.__name__}", (form_class,), {"Meta": meta, **attributes})


def bound_form(form_class: type[F], *, instance: models.Model, changes: Mapping[str, Any]) -> F:
    """`form_class` bound to `instance` as it stands with `changes` applied (form field names). Money
    is an integer of minor units in the API, as stored, while a `MoneyField` reads what a person types
    (major units): such an amount is given to it as the page would show it."""
    unbound = form_class(instance=instance)
    data: dict[str, Any] = {}
    for name, field in unbound.fields.items():
        value = changes[name] if name in changes else unbound.initial.get(name)
        if isinstance(field, MoneyField):
            value = field.prepare_value(value)
        data[name] = "" if value is None else value
    return form_class(data=data, instance=instance)


def valid_or_refuse(form: forms.BaseForm, *, code: str = "invalid_fields") -> dict[str, Any]:
    """The form's cleaned data, or ValidationFailed (422 `code`) with its messages: `errors` lists each
    as `{"loc": ["body", field], "msg": …, "type": …}` (`["body"]` for the whole form), the first message
    is the `detail`."""
    if form.is_valid():
        return form.cleaned_data
    errors: list[dict[str, Any]] = [
        {
            "loc": ["body"] if field == NON_FIELD_ERRORS else ["body", field],
            "msg": message,
            "type": error.code or "invalid",
        }
        for field, field_errors in form.errors.as_data().items()
        for error in field_errors
        for message in error.messages
    ]
    raise ValidationFailed(errors[0]["msg"], code=code, errors=errors)


def field_errors(errors: list[dict[str, Any]]) -> dict[str | None, list[str]]:
    """A 422's `errors` by field (None: the whole form), as a form's `errors` reads."""
    found: dict[str | None, list[str]] = {}
    for error in errors:
        found.setdefault(error["loc"][1] if len(error["loc"]) > 1 else None, []).append(error["msg"])
    return found


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
