"""The rewards API (E7, E8, K3): gifts, redemptions and promo codes through the POS / shop API key.
Every endpoint refuses another merchant's rows with 404."""

from __future__ import annotations

import pytest

from tessera.rewards.models import GiftRedemption, PromoCode, RedemptionStatus
from tessera.rewards.tests.conftest import give_points, points_of
from tessera.rewards.tests.factories import GiftFactory, PromoCodeOfferFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def gift(merchant):
    return GiftFactory(merchant=merchant, name="Áo thun", points_cost=120, stock=2, per_member_limit=1)


@pytest.fixture
def offer(merchant):
    return PromoCodeOfferFactory(merchant=merchant, points_cost=200, amount=50_000)


def test_e7_the_catalogue_lists_the_merchants_active_gifts(pos, other_pos, merchant, other_merchant, gift):
    GiftFactory(merchant=merchant, is_active=False)
    GiftFactory(merchant=other_merchant, name="别人的")

    mine, theirs = pos.get("/rewards/gifts"), other_pos.get("/rewards/gifts")

    assert mine.status_code == 200
    assert mine.json() == [
        {
            "id": gift.pk,
            "name": "Áo thun",
            "description": "",
            "points_cost": 120,
            "stock": 2,
            "per_member_limit": 1,
            "image_url": None,
        }
    ]
    assert [g["name"] for g in theirs.json()] == ["别人的"]


def test_e7_a_member_redeems_a_gift_by_phone_and_cancels_it(pos, store, member, gift):
    give_points(member, store, 500)

    made = pos.post("/rewards/gift-redemptions", {"phone": "0903123456", "gift_id": gift.pk})

    assert made.status_code == 201, made.content
    body = made.json()
    assert (body["points"], body["status"], body["points_available"]) == (120, "requested", 380)
    again = pos.post("/rewards/gift-redemptions", {"member_id": member.pk, "gift_id": gift.pk})
    assert (again.status_code, again.json()["code"]) == (422, "gift_limit_reached")

    cancelled = pos.post(f"/rewards/gift-redemptions/{body['id']}/cancel", {"reason": "no size"})

    assert cancelled.status_code == 200
    assert (cancelled.json()["status"], cancelled.json()["points_available"]) == ("cancelled", 500)
    assert points_of(member) == 500


def test_e11_a_retried_redemption_spends_once(pos, store, member, gift):
    give_points(member, store, 500)
    body = {"member_id": member.pk, "gift_id": gift.pk}

    first = pos.post("/rewards/gift-redemptions", body, key="redeem-1")
    second = pos.post("/rewards/gift-redemptions", body, key="redeem-1")

    assert (first.status_code, second.status_code) == (201, 201)
    assert second["Idempotent-Replayed"] == "true"
    assert GiftRedemption.objects.count() == 1
    assert points_of(member) == 380


def test_a1_gift_endpoints_refuse_another_merchants_rows(pos, other_pos, store, member, gift):
    give_points(member, store, 500)
    redemption = pos.post("/rewards/gift-redemptions", {"member_id": member.pk, "gift_id": gift.pk}).json()

    as_them = other_pos.post("/rewards/gift-redemptions", {"member_id": member.pk, "gift_id": gift.pk})
    their_gift = other_pos.post("/rewards/gift-redemptions", {"phone": "+8613800138000", "gift_id": gift.pk})
    cancel = other_pos.post(f"/rewards/gift-redemptions/{redemption['id']}/cancel", {})

    assert (as_them.status_code, as_them.json()["code"]) == (404, "member_not_found")
    assert their_gift.status_code == 404
    assert (cancel.status_code, cancel.json()["code"]) == (404, "redemption_not_found")
    assert GiftRedemption.objects.get().status == RedemptionStatus.REQUESTED


def test_e8_the_shop_turns_points_into_a_code_then_validates_and_consumes_it(pos, store, member, offer):
    give_points(member, store, 500)

    issued = pos.post(
        "/rewards/promo-codes", {"phone": "0903123456", "offer_id": offer.pk, "channel": "widget"}
    )
    assert issued.status_code == 201, issued.content
    code = issued.json()
    assert (code["points"], code["points_available"], code["uses_left"], code["amount"]) == (
        200,
        300,
        1,
        50_000,
    )

    checked = pos.post("/rewards/promo-codes/validate", {"code": code["code"].lower(), "amount": 30_000})
    assert (checked.status_code, checked.json()["discount"], checked.json()["uses_left"]) == (200, 30_000, 1)

    used = pos.post(
        "/rewards/promo-codes/consume",
        {"code": code["code"], "amount": 80_000, "order_ref": "WEB-1042", "channel": "online"},
    )
    assert used.status_code == 200, used.content
    assert (used.json()["discount"], used.json()["uses_left"], used.json()["order_ref"]) == (
        50_000,
        0,
        "WEB-1042",
    )

    retried = pos.post(
        "/rewards/promo-codes/consume",
        {"code": code["code"], "amount": 80_000, "order_ref": "WEB-1042", "channel": "online"},
    )
    assert (retried.status_code, retried.json()["id"]) == (200, used.json()["id"])
    other_order = pos.post(
        "/rewards/promo-codes/consume", {"code": code["code"], "amount": 80_000, "order_ref": "WEB-1043"}
    )
    assert (other_order.status_code, other_order.json()["code"]) == (409, "code_used_up")


def test_e8_validation_errors_have_stable_codes(pos, store, member, offer):
    give_points(member, store, 500)
    code = pos.post("/rewards/promo-codes", {"member_id": member.pk, "offer_id": offer.pk}).json()["code"]
    PromoCode.objects.filter(code=code).update(valid_until="2000-01-01T00:00:00Z")

    expired = pos.post("/rewards/promo-codes/validate", {"code": code, "amount": 1000})
    unknown = pos.post("/rewards/promo-codes/validate", {"code": "ZZZZZZZZZZ", "amount": 1000})

    assert (expired.status_code, expired.json()["code"]) == (422, "code_expired")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "code_not_found")
    assert expired["Content-Type"] == "application/problem+json"


def test_a1_promo_code_endpoints_refuse_another_merchants_rows(pos, other_pos, store, member, offer):
    give_points(member, store, 500)
    code = pos.post("/rewards/promo-codes", {"member_id": member.pk, "offer_id": offer.pk}).json()["code"]

    issue = other_pos.post("/rewards/promo-codes", {"member_id": member.pk, "offer_id": offer.pk})
    check = other_pos.post("/rewards/promo-codes/validate", {"code": code, "amount": 1000})
    consume = other_pos.post("/rewards/promo-codes/consume", {"code": code, "amount": 1000, "order_ref": "X"})
    offers = other_pos.get("/rewards/promo-code-offers")

    assert (issue.status_code, issue.json()["code"]) == (404, "member_not_found")
    assert (check.status_code, check.json()["code"]) == (404, "code_not_found")
    assert (consume.status_code, consume.json()["code"]) == (404, "code_not_found")
    assert offers.json() == []
    assert PromoCode.objects.get().uses_left == 1


def test_e8_offers_are_listed_with_their_price_and_value(pos, offer):
    listed = pos.get("/rewards/promo-code-offers")

    assert listed.status_code == 200
    assert [(o["id"], o["points_cost"], o["amount"], o["channel"]) for o in listed.json()] == [
        (offer.pk, 200, 50_000, "any")
    ]


def test_e11_every_rewards_post_needs_an_idempotency_key(pos, offer):
    response = pos.post("/rewards/promo-codes/validate", {"code": "X", "amount": 1}, key=None)

    assert (response.status_code, response.json()["code"]) == (400, "idempotency_key_required")
