from __future__ import annotations

import pytest

from tessera.tenancy import services
from tessera.tenancy.models import ApiKey

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
