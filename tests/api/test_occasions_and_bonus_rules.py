"""Occasion discounts (issue 15 §3), bonus rules without a purchase (issue 15 §5) and top-up bonus rules
(E6) in the management API (issue 17): through the back office's forms and services, with If-Match,
archived, never deleted; what the API configures is what the till applies."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tessera.cards.tests.factories import CardTypeFactory
from tessera.cards.tests.helpers import active_card
from tessera.core.api_forms import field_errors
from tessera.rewards.admin import BonusRuleForm, OccasionDiscountForm
from tessera.rewards.models import BonusRule, OccasionDiscount, TopUpBonusRule
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

EVERY_DAY = {"name": "Happy days", "kind": "weekday", "weekdays": [1, 2, 3, 4, 5, 6, 7], "percent": "10"}
WELCOME = {"name": "Welcome", "kind": "sign_up", "points": 50}
TOP_UP = {"name": "Top up 1,000,000", "min_amount": 1000000, "bonus_value": 100000, "bonus_points": 20}
LINES = [{"name": "Serum", "quantity": 1, "unit_price": 300000}]
KEY_REASON = "API key “Head office” (tsk_{})"

# --- occasion discounts -----------------------------------------------------------------------------


def test_an_occasion_discount_created_by_api_is_in_the_tills_quote(admin, till, merchant) -> None:  # type: ignore[no-untyped-def]
    MemberFactory(merchant=merchant, phone="+84903123456")

    created = admin.post("/occasion-discounts", {**EVERY_DAY, "max_discount": 20000})

    assert created.status_code == 201, created.json()
    occasion = created.json()
    assert (occasion["weekdays"], occasion["percent"], occasion["max_discount"]) == (
        [1, 2, 3, 4, 5, 6, 7],
        "10.00",
        20000,
    )
    quote = till.post("/quote", {"phone": "0903123456", "lines": LINES}).json()
    assert quote["discount_amount"] == 20000, quote  # 10 % of 300,000, capped at 20,000
    assert [(d["name"], d["occasion_id"]) for d in quote["discounts"]] == [("Happy days", occasion["id"])]

    path = f"/occasion-discounts/{occasion['id']}"
    assert admin.change(path, {"max_discount": None}).json()["max_discount"] is None
    assert till.post("/quote", {"phone": "0903123456", "lines": LINES}).json()["discount_amount"] == 30000
    assert admin.post(path + "/archive").json()["is_active"] is False
    assert till.post("/quote", {"phone": "0903123456", "lines": LINES}).json()["discount_amount"] == 0
    assert admin.get("/occasion-discounts").json()["count"] == 1
    saved = OccasionDiscount.objects.get(pk=occasion["id"])
    assert (saved.weekdays, saved.percent, saved.is_active) == ("1234567", Decimal("10.00"), False)
    assert saved.history.latest().history_change_reason == KEY_REASON.format(admin.key.key.prefix)


def test_an_occasion_cap_is_in_minor_units_for_a_currency_with_cents(admin, merchant) -> None:  # type: ignore[no-untyped-def]
    """The API's money is minor units (fen), while the page's field reads yuan: 2,000 fen stays 2,000
    fen through a create and a change that leaves it alone."""
    merchant.currency = "CNY"
    merchant.save(update_fields=["currency"])

    occasion = admin.post("/occasion-discounts", {**EVERY_DAY, "max_discount": 2000}).json()
    changed = admin.change(f"/occasion-discounts/{occasion['id']}", {"percent": "5"}).json()

    assert (occasion["max_discount"], changed["max_discount"]) == (2000, 2000)
    assert OccasionDiscount.objects.get(pk=occasion["id"]).max_discount == 2000


def test_an_occasion_discount_is_refused_as_the_page_refuses_it(admin) -> None:  # type: ignore[no-untyped-def]
    body = {"name": "Tết", "kind": "date_range", "percent": "15", "starts_on": "2027-02-10"}
    form = OccasionDiscountForm(data={**body, "period": "day", "stacking": "best_of"})
    assert not form.is_valid()

    refused = admin.post("/occasion-discounts", body)

    assert refused.status_code == 422 and refused.json()["code"] == "invalid_occasion_discount"
    assert field_errors(refused.json()["errors"]) == {
        (None if key == "__all__" else key): list(messages) for key, messages in form.errors.items()
    }
    assert not OccasionDiscount.objects.exists()


def test_occasion_discounts_if_match_scopes_and_another_merchants_ids(
    admin, admin_read, till, stranger
) -> None:  # type: ignore[no-untyped-def]
    occasion = admin.post("/occasion-discounts", EVERY_DAY).json()
    _check_guarded(
        f"/occasion-discounts/{occasion['id']}",
        "occasion_discount_not_found",
        admin,
        admin_read,
        till,
        stranger,
        {"percent": "12"},
    )
    assert stranger.get("/occasion-discounts").json()["count"] == 0


# --- bonus rules without a purchase ------------------------------------------------------------------


def test_a_sign_up_bonus_created_by_api_gives_points_to_a_member_registered_by_api(admin, till) -> None:  # type: ignore[no-untyped-def]
    created = admin.post("/bonus-rules", {**WELCOME, "budget": 1000})
    assert created.status_code == 201, created.json()
    assert (created.json()["budget"], created.json()["budget_given"]) == (1000, 0)

    member = till.post("/members", {"phone": "0903123456", "full_name": "Nguyễn Thị Lan"})

    assert member.status_code == 201, member.json()
    looked_up = till.get("/lookup?phone=0903123456").json()
    assert looked_up["balances"]["points"] == 50, looked_up
    path = f"/bonus-rules/{created.json()['id']}"
    assert admin.get(path).json()["budget_given"] == 50
    assert admin.post(path + "/archive").json()["is_active"] is False
    till.post("/members", {"phone": "0903999888"})
    assert till.get("/lookup?phone=0903999888").json()["balances"]["points"] == 0
    rule = BonusRule.objects.get(pk=created.json()["id"])
    assert rule.history.latest().history_change_reason == KEY_REASON.format(admin.key.key.prefix)


def test_an_event_rule_with_limits_is_changed_and_earned_through_the_api(admin, till, merchant) -> None:  # type: ignore[no-untyped-def]
    MemberFactory(merchant=merchant, phone="+84903123456")
    rule = admin.post(
        "/bonus-rules", {"name": "App", "kind": "event", "event_type": "app_installed", "points": 20}
    ).json()
    changed = admin.change(f"/bonus-rules/{rule['id']}", {"points": 30, "per_day": 1})
    assert (changed.json()["points"], changed.json()["per_day"]) == (30, 1)

    first = till.post("/events", {"phone": "0903123456", "type": "app_installed"}).json()
    second = till.post("/events", {"phone": "0903123456", "type": "app_installed"}).json()

    assert first["points"] == 30 and second["points"] == 0
    assert [r["code"] for r in second["not_awarded"]] == ["limit_per_day"]


def test_a_bonus_rule_is_refused_as_the_page_refuses_it(admin) -> None:  # type: ignore[no-untyped-def]
    body = {"name": "Nothing", "kind": "event", "event_type": "App Installed!", "points": 0}
    form = BonusRuleForm(data={name: field.initial for name, field in BonusRuleForm().fields.items()} | body)
    assert not form.is_valid()

    refused = admin.post("/bonus-rules", body)

    assert refused.status_code == 422 and refused.json()["code"] == "invalid_bonus_rule"
    assert field_errors(refused.json()["errors"]) == {
        (None if key == "__all__" else key): list(messages) for key, messages in form.errors.items()
    }
    assert not BonusRule.objects.exists()


def test_bonus_rules_if_match_scopes_and_another_merchants_ids(admin, admin_read, till, stranger) -> None:  # type: ignore[no-untyped-def]
    rule = admin.post("/bonus-rules", WELCOME).json()
    _check_guarded(
        f"/bonus-rules/{rule['id']}",
        "bonus_rule_not_found",
        admin,
        admin_read,
        till,
        stranger,
        {"points": 60},
    )
    assert stranger.get("/bonus-rules").json()["count"] == 0


# --- top-up bonus rules ------------------------------------------------------------------------------


def test_a_top_up_bonus_rule_created_by_api_applies_to_a_top_up(admin, till, merchant) -> None:  # type: ignore[no-untyped-def]
    card = active_card(CardTypeFactory(merchant=merchant, kind="stored_value"), phone="0903123456")
    created = admin.post("/top-up-bonus-rules", TOP_UP)
    assert created.status_code == 201, created.json()

    topped = till.post(
        "/stored-value/top-ups", {"card_code": card.number, "amount": 1000000, "payment_method": "cash"}
    ).json()

    assert (topped["bonus_value"], topped["bonus_points"], topped["stored_value_balance"]) == (
        100000,
        20,
        1100000,
    )
    path = f"/top-up-bonus-rules/{created.json()['id']}"
    assert admin.change(path, {"bonus_points": 0}).json()["bonus_points"] == 0
    assert admin.post(path + "/archive").json()["is_active"] is False
    rule = TopUpBonusRule.objects.get(pk=created.json()["id"])
    assert (rule.bonus_points, rule.is_active) == (0, False)
    assert rule.history.latest().history_change_reason == KEY_REASON.format(admin.key.key.prefix)
    nothing = admin.post("/top-up-bonus-rules", {"name": "Nothing", "min_amount": 5, "bonus_points": 0})
    assert nothing.status_code == 422 and nothing.json()["code"] == "invalid_top_up_rule"


def test_top_up_rules_if_match_scopes_and_another_merchants_ids(admin, admin_read, till, stranger) -> None:  # type: ignore[no-untyped-def]
    rule = admin.post("/top-up-bonus-rules", TOP_UP).json()
    _check_guarded(
        f"/top-up-bonus-rules/{rule['id']}",
        "top_up_rule_not_found",
        admin,
        admin_read,
        till,
        stranger,
        {"bonus_points": 5},
    )
    assert stranger.get("/top-up-bonus-rules").json()["count"] == 0


def _check_guarded(path, missing, admin, admin_read, till, stranger, change) -> None:  # type: ignore[no-untyped-def]
    """428 without If-Match, 412 with a stale one; 403 for keys without the admin scope; another
    merchant's key gets `missing` (404) for the id."""
    read = admin.get(path)["ETag"]
    assert admin.patch(path, change).status_code == 428
    assert admin.change(path, change).status_code == 200
    refused = admin.patch(path, {"name": "x"}, etag=read)
    assert refused.status_code == 412 and refused.json()["code"] == "precondition_failed"

    assert admin_read.get(path).status_code == 200
    for client in (admin_read, till):
        assert client.patch(path, {"name": "x"}, etag="*").status_code == 403
        assert client.post(path + "/archive").status_code == 403
    for answer in (
        stranger.get(path),
        stranger.patch(path, {"name": "x"}, etag="*"),
        stranger.post(path + "/archive"),
    ):
        assert answer.status_code == 404 and answer.json()["code"] == missing
