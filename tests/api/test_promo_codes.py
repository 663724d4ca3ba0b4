"""Promo-code offers and the codes issued, in the management API (issue 17): offers through the back
office's form and `save_offer`, with If-Match; codes listed per offer, member and status, and cancelled."""

from __future__ import annotations

import pytest

from tessera.rewards.models import PromoCodeOffer
from tessera.sales import services as sales
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

OFF_50K = {"name": "50,000 đồng off", "points_cost": 300, "value_kind": "amount", "amount": 50000}


def test_an_admin_key_creates_changes_and_archives_an_offer(admin, merchant) -> None:  # type: ignore[no-untyped-def]
    created = admin.post("/promo-code-offers", OFF_50K)
    assert created.status_code == 201, created.json()
    path = f"/promo-code-offers/{created.json()['id']}"

    assert admin.change(path, {"validity_days": 60}).json()["validity_days"] == 60
    assert admin.post(path + "/archive").json()["is_active"] is False
    assert admin.get("/promo-code-offers").json()["count"] == 1

    offer = PromoCodeOffer.objects.get(pk=created.json()["id"])
    assert (offer.validity_days, offer.is_active, offer.amount) == (60, False, 50000)
    assert (
        offer.history.latest().history_change_reason == f"API key “Head office” (tsk_{admin.key.key.prefix})"
    )


def test_an_offer_is_refused_as_the_back_office_refuses_it(admin) -> None:  # type: ignore[no-untyped-def]
    refused = admin.post("/promo-code-offers", {**OFF_50K, "amount": None, "percent": "10"})

    assert refused.status_code == 422 and refused.json()["code"] == "invalid_offer"
    assert not PromoCodeOffer.objects.exists()


def test_codes_are_listed_and_cancelled(admin, merchant, store) -> None:  # type: ignore[no-untyped-def]
    offer = admin.post("/promo-code-offers", OFF_50K).json()
    member = MemberFactory(merchant=merchant, phone="+84903123456")
    sales.add_points(member=member, store=store, actor=None, points=1000)
    code = admin.post("/rewards/promo-codes", {"phone": "0903123456", "offer_id": offer["id"]})
    assert code.status_code == 201, code.json()

    listed = admin.get(f"/promo-codes?offer_id={offer['id']}&status=active").json()
    assert listed["count"] == 1 and listed["items"][0]["code"] == code.json()["code"]
    cancelled = admin.post(f"/rewards/promo-codes/{code.json()['id']}/cancel", {"reason": "asked"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert admin.get(f"/promo-codes?member_id={member.pk}&status=active").json()["count"] == 0


def test_if_match_scopes_and_another_merchants_ids(admin, admin_read, till, stranger) -> None:  # type: ignore[no-untyped-def]
    offer = admin.post("/promo-code-offers", OFF_50K).json()
    path = f"/promo-code-offers/{offer['id']}"
    read = admin.get(path)["ETag"]
    assert admin.patch(path, {"name": "x"}).status_code == 428
    admin.change(path, {"points_cost": 250})
    assert admin.patch(path, {"name": "x"}, etag=read).status_code == 412

    assert admin_read.get(path).status_code == 200
    for client in (admin_read, till):
        assert client.patch(path, {"name": "x"}, etag="*").status_code == 403
        assert client.post("/promo-code-offers", OFF_50K).status_code == 403
    assert till.get("/promo-codes").status_code == 403
    for answer in (
        stranger.get(path),
        stranger.patch(path, {"name": "x"}, etag="*"),
        stranger.post(path + "/archive"),
    ):
        assert answer.status_code == 404 and answer.json()["code"] == "offer_not_found"
    assert stranger.get(f"/promo-codes?offer_id={offer['id']}").json()["count"] == 0
