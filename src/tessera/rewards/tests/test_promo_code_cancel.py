"""E8 (issue 15 §7): an unused, unexpired promo code can be cancelled and its points come back, exactly
once; a used, expired or already cancelled code is refused; another merchant's code is not found."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from tests.factories import staff_user

from tessera.core.errors import DomainError
from tessera.ledger.models import EntryKind
from tessera.ledger.reasons import describe
from tessera.rewards import services
from tessera.rewards.models import CodeStatus, PromoCode
from tessera.rewards.tests.conftest import give_points, points_of
from tessera.rewards.tests.factories import PromoCodeOfferFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def offer(merchant):
    return PromoCodeOfferFactory(merchant=merchant, points_cost=200, amount=50_000)


@pytest.fixture
def code(member, store, offer):
    give_points(member, store, 500)
    return services.redeem_points_for_code(member=member, offer=offer)


def test_e8_cancelling_an_unused_code_gives_the_points_back(member, code):
    assert points_of(member) == 300

    services.cancel_promo_code(code=code, reason="wrong offer")

    code.refresh_from_db()
    assert points_of(member) == 500
    assert (code.status, code.uses_left, code.cancel_reason) == (CodeStatus.CANCELLED, 0, "wrong offer")
    reversal = code.reversal_entry
    assert (reversal.kind, reversal.amount, reversal.reverses_id) == (EntryKind.REVERSAL, 200, code.entry_id)
    assert reversal.reason_code == "promo_code_cancelled"
    assert code.code in str(describe(reversal.reason_code, reversal.reason_args, reversal.reason))


def test_e8_a_cancelled_code_cannot_be_cancelled_again_nor_used(merchant, member, code):
    services.cancel_promo_code(code=code)

    with pytest.raises(DomainError) as again:
        services.cancel_promo_code(code=code)
    with pytest.raises(DomainError) as used:
        services.consume_code(merchant=merchant, code=code.code, order_ref="A1", amount=100_000)

    assert (again.value.code, again.value.status) == ("code_cancelled", 409)
    assert (used.value.code, used.value.status) == ("code_cancelled", 409)
    assert points_of(member) == 500


def test_e8_a_used_code_cannot_be_cancelled(merchant, member, code):
    services.consume_code(merchant=merchant, code=code.code, order_ref="A1", amount=100_000)

    with pytest.raises(DomainError) as refused:
        services.cancel_promo_code(code=code)

    assert (refused.value.code, refused.value.status) == ("code_already_used", 409)
    assert points_of(member) == 300


def test_e8_an_expired_code_cannot_be_cancelled(member, code):
    with pytest.raises(DomainError) as refused:
        services.cancel_promo_code(code=code, now=timezone.now() + timedelta(days=31))

    assert refused.value.code == "code_expired"
    assert points_of(member) == 300


def test_e8_the_api_cancels_a_code_once_and_replays_a_retry(pos, member, code):
    path = f"/rewards/promo-codes/{code.pk}/cancel"

    first = pos.post(path, {"reason": "changed mind"}, key="cancel-1")
    retry = pos.post(path, {"reason": "changed mind"}, key="cancel-1")
    again = pos.post(path, {})

    assert first.status_code == 200
    assert (first.json()["status"], first.json()["points_available"]) == ("cancelled", 500)
    assert retry.json() == first.json()
    assert (again.status_code, again.json()["code"]) == (409, "code_cancelled")
    assert again["Content-Type"].startswith("application/problem+json")
    assert points_of(member) == 500


def test_e8_the_api_refuses_a_used_code(pos, code):
    pos.post("/rewards/promo-codes/consume", {"code": code.code, "order_ref": "A1", "amount": 100_000})

    refused = pos.post(f"/rewards/promo-codes/{code.pk}/cancel", {})

    assert (refused.status_code, refused.json()["code"]) == (409, "code_already_used")


def test_a1_another_merchant_cannot_cancel_the_code(other_pos, member, code):
    refused = other_pos.post(f"/rewards/promo-codes/{code.pk}/cancel", {})

    assert (refused.status_code, refused.json()["code"]) == (404, "code_not_found")
    assert PromoCode.objects.get(pk=code.pk).status == CodeStatus.ACTIVE
    assert points_of(member) == 300


def test_e8_b1_staff_cancel_codes_from_the_back_office_list(client, merchant, member, store, offer, code):
    used = services.redeem_points_for_code(member=member, offer=offer)
    services.consume_code(merchant=merchant, code=used.code, order_ref="A1", amount=100_000)
    changelist = reverse("admin:rewards_promocode_changelist")

    client.force_login(staff_user(merchant, "cashier").user)
    hidden = client.get(changelist)
    client.force_login(staff_user(merchant, "store_manager").user)
    response = client.post(
        changelist, {"action": "cancel_selected", "_selected_action": [code.pk, used.pk]}, follow=True
    )

    assert hidden.context["action_form"] is None  # a cashier has no cancel action
    assert PromoCode.objects.get(pk=code.pk).status == CodeStatus.CANCELLED
    assert PromoCode.objects.get(pk=used.pk).status == CodeStatus.USED_UP
    shown = [str(m) for m in response.context["messages"]]
    assert any(used.code in m for m in shown)
    assert points_of(member) == 300  # 500 − 200 − 200 + 200
