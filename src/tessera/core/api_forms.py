"""The back office's forms behind the API (issue 17): one validation, one set of messages.

An API change is applied to the same ModelForm a back-office page shows: the form starts from the
object as it stands (its initial values), the fields the client sent replace theirs, and the form's
errors come back as a 422 problem with the same messages, per field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import models

from tessera.core.errors import ValidationFailed

F = TypeVar("F", bound=forms.ModelForm)


def for_api(form_class: type[F], **attributes: Any) -> type[F]:
    """The back office's form without its operator-only `merchant` field (the API key names the
    merchant), with `attributes` set on the class (a form's `merchant_id`, as the admin sets `staff`)."""
    base: Any = form_class.Meta  # type: ignore[attr-defined]
    meta = type("Meta", (base,), {"fields": [name for name in base.fields if name != "merchant"]})
    return type(f"Api{form_class.__name__}", (form_class,), {"Meta": meta, **attributes})


def bound_form(form_class: type[F], *, instance: models.Model, changes: Mapping[str, Any]) -> F:
    """`form_class` bound to `instance` as it stands with `changes` applied (form field names)."""
    unbound = form_class(instance=instance)
    data: dict[str, Any] = {}
    for name in unbound.fields:
        value = changes[name] if name in changes else unbound.initial.get(name)
        data[name] = "" if value is None else value
    return form_class(data=data, instance=instance)


def valid_or_refuse(form: forms.BaseForm, *, code: str) -> dict[str, Any]:
    """The form's cleaned data, or ValidationFailed (422) with its messages: `errors` per field, those
    of the whole form under `null`, the first message as `detail`."""
    if form.is_valid():
        return form.cleaned_data
    errors = {
        (None if field == NON_FIELD_ERRORS else field): [str(m) for m in messages]
        for field, messages in form.errors.items()
    }
    first = next(iter(errors.values()))[0]
    raise ValidationFailed(first, code=code, errors=errors)
