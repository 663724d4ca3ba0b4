from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from tests.factories import StoreFactory

from tessera.core.errors import ValidationFailed
from tessera.tenancy import services
from tessera.tenancy.models import ApiKey, Scope

pytestmark = pytest.mark.django_db


def test_api_key_is_stored_only_as_a_hash_and_authenticates(merchant):
    issued = services.create_api_key(merchant=merchant, name="POS 1")

    stored = ApiKey.objects.get(pk=issued.key.pk)
    assert issued.raw_key.split("_", 2)[2] not in stored.hashed_secret
    assert services.authenticate_api_key(raw_key=issued.raw_key) == stored


def test_revoked_or_forged_key_does_not_authenticate(merchant):
    issued = services.create_api_key(merchant=merchant, name="POS 1")

    assert services.authenticate_api_key(raw_key=issued.raw_key + "x") is None
    services.revoke_api_key(key=issued.key)
    assert services.authenticate_api_key(raw_key=issued.raw_key) is None


def test_new_merchant_gets_the_five_default_roles(merchant):
    assert sorted(merchant.roles.values_list("key", flat=True)) == [
        "cashier",
        "finance",
        "marketing",
        "merchant_admin",
        "store_manager",
    ]


def test_a_key_without_a_chosen_scope_is_a_till_when_store_bound_else_an_integration(merchant):
    store = StoreFactory(merchant=merchant)

    till = services.create_api_key(merchant=merchant, name="Till", store=store).key
    shop = services.create_api_key(merchant=merchant, name="Shop").key

    assert (till.scope, shop.scope) == (Scope.POS, Scope.INTEGRATION)


def test_an_administration_key_cannot_be_bound_to_a_store(merchant):
    store = StoreFactory(merchant=merchant)

    with pytest.raises(ValidationFailed) as refused:
        services.create_api_key(merchant=merchant, name="Admin", store=store, scope=Scope.ADMIN)

    assert refused.value.code == "admin_key_store_bound"
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiKey.objects.create(merchant=merchant, store=store, scope=Scope.ADMIN_READ, name="x", prefix="p1")
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiKey.objects.create(merchant=merchant, scope="everything", name="y", prefix="p2")
