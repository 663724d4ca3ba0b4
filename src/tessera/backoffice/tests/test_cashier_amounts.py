"""The cashier screen reads its amounts with core.money.parse_money (issue 14, E3): what its number boxes
send ("45000", "12.5") and what a person types the Vietnamese way ("45.000") mean the same amount; a
fraction of a đồng is refused with a message and nothing is written."""

from __future__ import annotations

import pytest
from tests.factories import staff_user

from tessera.backoffice.tests.shop import shop
from tessera.backoffice.tests.test_cashier import CASHIER, _basket, _client
from tessera.sales.models import Transaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def till(merchant):
    return shop(merchant)


@pytest.mark.parametrize("typed", ["45000", "45.000", "45,000", "45 000"])
def test_e3_a_unit_price_reads_the_same_however_thousands_are_written(till, typed):
    client = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))

    response = client.post(
        CASHIER, {**_basket(client, till, **{"lines-0-unit_price": typed}), "action": "quote"}
    )

    assert response.status_code == 200
    assert response.context["quote"].total_amount == 90_000


def test_e3_a_fraction_of_a_dong_is_refused_and_nothing_is_written(till):
    client = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))

    response = client.post(
        CASHIER, {**_basket(client, till, **{"lines-0-unit_price": "45000.5"}), "action": "create"}
    )

    assert response.status_code == 422  # the page answers a form it refuses with 422
    assert "thập phân" in response.content.decode()  # "no decimals", in the cashier's Vietnamese
    assert not Transaction.objects.exists()
