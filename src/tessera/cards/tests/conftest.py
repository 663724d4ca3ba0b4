from __future__ import annotations

import pytest
from tests.factories import StoreFactory, staff_user

from tessera.cards.tests.factories import CardTypeFactory


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Card tests create many staff users; the slow production hasher adds nothing here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def store(merchant):
    return StoreFactory(merchant=merchant, name="Quận 1")


@pytest.fixture
def store2(merchant):
    return StoreFactory(merchant=merchant, name="Quận 3")


@pytest.fixture
def points_type(merchant):
    return CardTypeFactory(merchant=merchant, name="Thẻ tích điểm")


@pytest.fixture
def prepaid_type(merchant):
    return CardTypeFactory(
        merchant=merchant, name="Thẻ trả trước", kind="stored_value", requires_sale=True, number_prefix="9704"
    )


@pytest.fixture
def finance(merchant):
    return staff_user(merchant, "finance", username="finance-1").user


@pytest.fixture
def finance2(merchant):
    return staff_user(merchant, "finance", username="finance-2").user


@pytest.fixture
def manager(merchant, store):
    return staff_user(merchant, "store_manager", stores=[store], username="manager-1").user


@pytest.fixture
def cashier(merchant, store):
    return staff_user(merchant, "cashier", stores=[store], username="cashier-1").user


@pytest.fixture
def cashier2(merchant, store2):
    return staff_user(merchant, "cashier", stores=[store2], username="cashier-2").user


@pytest.fixture
def admin_user(merchant):
    return staff_user(merchant, "merchant_admin", username="admin-1").user
