"""Issue 13 (web CPU): our models' `from_db` (tessera.core.models._lean_from_db) makes the instance
Django's `Model.from_db` makes, without `Model.__init__`."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.db import models
from django.db.models.signals import post_init
from phonenumber_field.modelfields import PhoneNumberField

OURS = [
    model
    for model in apps.get_models(include_auto_created=True)
    if model.__module__.startswith("tessera.") and not model._meta.abstract
]


def _values(model: type[models.Model]) -> list[Any]:
    return [
        "+84903123456" if isinstance(field, PhoneNumberField) else f"value of {field.attname}"
        for field in model._meta.concrete_fields
    ]


def _same(ours: models.Model, django: models.Model) -> None:
    assert type(ours) is type(django)
    assert {k: v for k, v in vars(ours).items() if k != "_state"} == {
        k: v for k, v in vars(django).items() if k != "_state"
    }
    assert (ours._state.adding, ours._state.db, ours._state.fields_cache) == (False, "default", {})
    assert (django._state.adding, django._state.db) == (False, "default")


def test_every_model_of_ours_has_the_lean_from_db() -> None:
    assert len(OURS) > 50
    for model in OURS:
        assert "from_db" in model.__dict__, model._meta.label


@pytest.mark.parametrize("model", OURS, ids=lambda m: m._meta.label)
def test_the_instance_is_djangos_with_every_column_and_with_some(model: type[models.Model]) -> None:
    names = [field.attname for field in model._meta.concrete_fields]
    values = _values(model)
    django_from_db = models.Model.from_db.__func__  # type: ignore[attr-defined]
    _same(model.from_db("default", names, values), django_from_db(model, "default", names, values))
    # Deferred loading (`only()`): the named columns, in the model's order; the others stay unloaded.
    some = names[::2]
    subset = [value for name, value in zip(names, values, strict=True) if name in some]
    ours = model.from_db("default", some, subset)
    _same(ours, django_from_db(model, "default", some, subset))
    assert ours.get_deferred_fields() == {f.attname for f in model._meta.concrete_fields} - set(some)


@pytest.mark.django_db
def test_a_phone_read_from_the_database_is_a_phone_number_and_receivers_still_see_every_instance(
    merchant: Any,
) -> None:
    from tessera.members.models import Member
    from tessera.members.services import register_member

    register_member(merchant=merchant, phone="0903123456", full_name="An")
    member = Member.objects.select_related("merchant").get(merchant=merchant)
    assert str(member.phone) == "+84903123456" and member.phone.is_valid()
    assert member.merchant == merchant and not member._state.adding

    seen: list[Any] = []

    def listen(sender: Any, instance: Any, **kwargs: Any) -> None:
        seen.append(instance)

    post_init.connect(listen, weak=False)
    try:
        again = Member.objects.select_related("merchant").get(pk=member.pk)
    finally:
        post_init.disconnect(listen)
    assert again in seen and again.merchant in seen
