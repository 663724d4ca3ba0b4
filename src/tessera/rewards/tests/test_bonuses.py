"""Points without a purchase (issue 15 §5), through the API: sign-up, first purchase, completed profile,
referral and custom events; their limits per member in the merchant's calendar (Asia/Ho_Chi_Minh), the
budget, and what voids and refunds take back. `verify_ledger` finds nothing after each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tessera.ledger.models import Entry
from tessera.ledger.selectors import verify_ledger
from tessera.members.models import Member
from tessera.members.services import referral_code_of, register_member, update_member_profile
from tessera.rewards import bonuses
from tessera.rewards.models import BonusBudgetShard, BonusGrant, BonusKind, BonusRule
from tessera.rewards.tests.conftest import points_of
from tessera.sales.models import SalesSettings

pytestmark = pytest.mark.django_db

LINES = [{"name": "Phở", "quantity": 2, "unit_price": 65000}]  # 130,000 đồng: 13 points


def rule(merchant, kind: str, points: int = 0, **fields) -> BonusRule:
    return bonuses.save_bonus_rule(
        rule=BonusRule(merchant=merchant, name=f"{kind} {points}", kind=kind, points=points, **fields)
    )


def register(pos, phone: str, **fields):
    answer = pos.post("/members", {"phone": phone, **fields})
    assert answer.status_code == 201, answer.content
    return Member.objects.get(pk=answer.json()["id"])


def buy(pos, member, lines=LINES) -> dict:
    sale = pos.post("/transactions", {"member_id": member.pk, "lines": lines})
    assert sale.status_code == 201, sale.content
    confirmed = pos.post(f"/transactions/{sale.json()['id']}/confirm", {"method": "none"})
    assert confirmed.status_code == 200, confirmed.content
    return confirmed.json()


@pytest.fixture
def till(pos, merchant, store):
    """A till whose sales need no confirmation."""
    settings = SalesSettings.for_merchant(merchant)
    settings.confirm_with_pin = settings.confirm_with_otp = settings.confirm_with_staff = False
    settings.save()
    return pos


def reasons(member) -> list[tuple[str, int]]:
    return list(
        Entry.objects.filter(account__member=member).order_by("pk").values_list("reason_code", "amount")
    )


# --- sign-up and profile ------------------------------------------------------------------------------


def test_sign_up_bonus_is_given_once_on_registration_through_the_api(till, merchant):
    rule(merchant, BonusKind.SIGN_UP, 50)

    member = register(till, "0903000001")

    assert points_of(member) == 50
    assert reasons(member) == [("sign_up_bonus", 50)]
    entry = Entry.objects.get(account__member=member)
    assert entry.kind == "bonus" and entry.description == "Sign-up bonus: sign_up 50"
    assert verify_ledger(merchant) == []


@pytest.mark.parametrize(
    ("required", "fields_at_registration", "change", "points_after_registration", "points_after_change"),
    [
        (
            [],
            {"full_name": "An", "email": "an@example.vn", "birthday": "1990-02-03", "gender": "female"},
            {},
            30,
            30,
        ),
        ([], {"full_name": "An"}, {"email": "an@example.vn"}, 0, 0),
        (
            [],
            {"full_name": "An", "email": "an@example.vn"},
            {"birthday": "1990-02-03", "gender": "male"},
            0,
            30,
        ),
        (["full_name", "region"], {"full_name": "An"}, {"region": "Hà Nội"}, 0, 30),
    ],
    ids=["complete-at-once", "still-incomplete", "completed-later", "configured-fields"],
)
def test_profile_completed_bonus_follows_the_rules_fields(
    till, merchant, required, fields_at_registration, change, points_after_registration, points_after_change
):
    rule(merchant, BonusKind.PROFILE_COMPLETED, 30, profile_fields=required)

    member = register(till, "0903000002", **fields_at_registration)
    assert points_of(member) == points_after_registration
    if change:
        assert (
            till.client.patch(
                f"/api/v1/members/{member.pk}", change, content_type="application/json"
            ).status_code
            == 200
        )
    update_member_profile(member=Member.objects.get(pk=member.pk), notes="changed again")  # never twice

    assert points_of(member) == points_after_change
    assert verify_ledger(merchant) == []


# --- first purchase -----------------------------------------------------------------------------------


def test_first_purchase_bonus_needs_the_minimum_and_comes_once(till, merchant):
    rule(merchant, BonusKind.FIRST_PURCHASE, 100, min_amount=100_000)
    member = register(till, "0903000003")

    buy(till, member)
    buy(till, member)

    assert reasons(member) == [("sale", 13), ("first_purchase_bonus", 100), ("sale", 13)]
    small = register(till, "0903000004")
    buy(till, small, [{"name": "Trà", "quantity": 1, "unit_price": 5000}])
    buy(till, small)  # not the first purchase any more
    assert points_of(small) == 13
    assert verify_ledger(merchant) == []


@pytest.mark.parametrize(
    ("undo", "bonus_after_undo", "next_purchase_is_first"),
    [
        ("void", 0, True),
        ("full refund", 0, False),
        ("partial refund", 100, False),
        ("two partial refunds completing the return", 0, False),
    ],
)
def test_a_first_purchase_bonus_is_taken_back_by_a_void_or_a_full_refund(
    till, merchant, undo, bonus_after_undo, next_purchase_is_first
):
    rule(merchant, BonusKind.FIRST_PURCHASE, 100)
    member = register(till, "0903000005")
    sale = buy(till, member, [{"name": "Phở", "quantity": 2, "unit_price": 65000}])

    if undo == "void":
        assert till.post(f"/transactions/{sale['id']}/void", {"reason": "wrong"}).status_code == 200
    else:
        quantity = 2 if undo == "full refund" else 1
        line = {"line_id": sale["lines"][0]["id"], "quantity": quantity}
        assert till.post(f"/transactions/{sale['id']}/refunds", {"lines": [line]}).status_code == 201
        if undo.startswith("two"):
            assert BonusGrant.objects.get(member=member).taken_back_at is None  # the first one keeps it
            assert till.post(f"/transactions/{sale['id']}/refunds", {"lines": [line]}).status_code == 201

    grant = BonusGrant.objects.get(member=member)
    assert (grant.taken_back_at is None) == (bonus_after_undo == 100)
    kept = sum(amount for code, amount in reasons(member) if "bonus" in code)
    assert kept == bonus_after_undo
    buy(till, member)
    again = BonusGrant.objects.filter(member=member, taken_back_at__isnull=True).count()
    assert again == (1 if next_purchase_is_first or bonus_after_undo else 0)
    assert verify_ledger(merchant) == []


# --- referral -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "referrer_points", "expected_new", "expected_referrer"),
    [(20, 0, 20, 0), (0, 40, 0, 40), (20, 40, 20, 40)],
    ids=["the-referred", "the-referrer", "both"],
)
def test_referral_rewards_the_referred_the_referrer_or_both_at_the_first_purchase(
    till, merchant, points, referrer_points, expected_new, expected_referrer
):
    rule(merchant, BonusKind.REFERRAL, points, referrer_points=referrer_points, min_amount=50_000)
    referrer = register(till, "0903000006")
    code = referral_code_of(referrer)

    friend = register(till, "0903000007", referral_code=code.lower()[:3] + "-" + code.lower()[3:])
    assert friend.referred_by_id == referrer.pk
    assert points_of(referrer) == 0 and points_of(friend) == 0  # nothing before a purchase
    buy(till, friend)
    buy(till, friend)

    assert points_of(friend) == 26 + expected_new
    assert points_of(referrer) == expected_referrer
    assert bonuses.referral_summary(referrer) == bonuses.ReferralSummary(referred=1, points=expected_referrer)
    assert verify_ledger(merchant) == []


def test_a_referral_code_is_unique_unambiguous_and_checked(till, merchant, other_merchant):
    members = [register(till, f"090300010{i}") for i in range(5)]
    codes = {referral_code_of(member) for member in members}
    assert len(codes) == 5
    assert all(len(code) == 7 and not set(code) & set("01ILOU") for code in codes)
    assert referral_code_of(Member.objects.get(pk=members[0].pk)) == referral_code_of(members[0])

    unknown = till.post("/members", {"phone": "0903000199", "referral_code": "ZZZZZZZ"})
    assert (unknown.status_code, unknown.json()["code"]) == (422, "referral_code_not_found")
    other = register_member(merchant=other_merchant, phone="0903000198")
    theirs = till.post("/members", {"phone": "0903000197", "referral_code": referral_code_of(other)})
    assert theirs.json()["code"] == "referral_code_not_found"


def test_a_referral_bonus_comes_back_with_a_void_and_is_given_again_by_the_next_first_purchase(
    till, merchant
):
    rule(merchant, BonusKind.REFERRAL, 20, referrer_points=40)
    referrer = register(till, "0903000008")
    friend = register(till, "0903000009", referral_code=referral_code_of(referrer))

    first = buy(till, friend)
    assert till.post(f"/transactions/{first['id']}/void", {"reason": "mistake"}).status_code == 200
    assert (points_of(friend), points_of(referrer)) == (0, 0)
    buy(till, friend)

    assert (points_of(friend), points_of(referrer)) == (13 + 20, 40)
    assert [code for code, _amount in reasons(referrer)] == [
        "referrer_bonus",
        "bonus_voided",
        "referrer_bonus",
    ]
    assert BonusGrant.objects.filter(member=referrer, taken_back_at__isnull=True).count() == 1
    assert verify_ledger(merchant) == []


# --- custom events ------------------------------------------------------------------------------------


def test_an_event_posted_through_the_api_earns_its_rules_points_once_per_key(till, merchant, member):
    rule(merchant, BonusKind.EVENT, 15, event_type="app_installed", per_member=1)
    rule(merchant, BonusKind.EVENT, 5, event_type="review_written")
    body = {"phone": "0903123456", "type": "app_installed"}

    first = till.post("/events", body, key="install-1")
    replay = till.post("/events", body, key="install-1")
    second = till.post("/events", body)
    unknown = till.post("/events", {"member_id": member.pk, "type": "newsletter_read"})

    assert first.status_code == 201, first.content
    assert first.json()["points"] == 15 and first.json()["points_available"] == 15
    assert replay.content == first.content
    assert second.json()["points"] == 0
    assert [r["code"] for r in second.json()["not_awarded"]] == ["limit_per_member"]
    assert (unknown.status_code, unknown.json()["points"], unknown.json()["not_awarded"]) == (201, 0, [])
    assert points_of(member) == 15
    bad = till.post("/events", {"member_id": member.pk, "type": "Not A Type"})
    assert bad.status_code == 422
    assert verify_ledger(merchant) == []


def test_events_of_another_merchants_member_are_not_found(till, other_pos, member):
    answer = other_pos.post("/events", {"member_id": member.pk, "type": "app_installed"})
    assert answer.status_code == 404


def at(text: str) -> datetime:
    """A wall-clock time in Hồ Chí Minh City (UTC+7, the merchant's zone), as UTC."""
    return datetime.fromisoformat(text + "+07:00").astimezone(UTC)


@pytest.mark.parametrize(
    ("limits", "instants", "expected"),
    [
        # per day: 23:59 and 00:00 local are two days, though the same UTC day (16:59 and 17:00 UTC)
        ({"per_day": 1}, ["2027-01-31T23:59", "2027-01-31T23:59:30", "2027-02-01T00:00"], [1, 0, 1]),
        # per week, Monday to Sunday: Sunday 23:59 then Monday 00:00
        ({"per_week": 1}, ["2027-02-07T10:00", "2027-02-07T23:59", "2027-02-08T00:00"], [1, 0, 1]),
        # per month across the end of February (28 days in 2027)
        (
            {"per_month": 2},
            ["2027-02-01T00:00", "2027-02-28T23:59", "2027-02-28T23:59:59", "2027-03-01T00:00"],
            [1, 1, 0, 1],
        ),
        # a leap year's 29 February is still February
        ({"per_month": 1}, ["2028-02-29T23:00", "2028-03-01T00:30"], [1, 1]),
        # all time
        ({"per_member": 2}, ["2027-01-01T08:00", "2027-06-01T08:00", "2028-01-01T08:00"], [1, 1, 0]),
        # several limits at once: the first reached refuses
        (
            {"per_day": 2, "per_week": 3},
            [
                "2027-02-01T08:00",
                "2027-02-01T09:00",
                "2027-02-01T10:00",
                "2027-02-02T08:00",
                "2027-02-03T08:00",
            ],
            [1, 1, 0, 1, 0],
        ),
    ],
    ids=["day", "week", "month", "leap-february", "all-time", "day-and-week"],
)
def test_event_limits_per_member_follow_the_merchants_calendar(merchant, member, limits, instants, expected):
    member.status = "active"
    member.save()
    rule(merchant, BonusKind.EVENT, 10, event_type="check_in", **limits)
    given = [
        bonuses.record_event(merchant=merchant, member=member, event_type="check_in", now=at(moment)).points
        // 10
        for moment in instants
    ]
    assert given == expected
    assert verify_ledger(merchant) == []


def test_limits_are_per_member_and_per_rule(merchant, member):
    other = register_member(merchant=merchant, phone="0903000300")
    rule(merchant, BonusKind.EVENT, 10, event_type="check_in", per_day=1)
    rule(merchant, BonusKind.EVENT, 3, event_type="check_in", per_day=2)
    now = at("2027-03-03T12:00")
    points = [
        bonuses.record_event(merchant=merchant, member=m, event_type="check_in", now=now).points
        for m in (member, member, other, member)
    ]
    assert points == [13, 3, 13, 0]


# --- budget -------------------------------------------------------------------------------------------


def test_the_budget_stops_the_rule_and_a_taken_back_bonus_returns_to_it(till, merchant):
    budgeted = rule(merchant, BonusKind.FIRST_PURCHASE, 100, budget=250)
    assert BonusBudgetShard.objects.filter(rule=budgeted).count() == 1  # 250 < 16 grants: one row
    people = [register(till, f"09030004{i:02d}") for i in range(4)]
    sales = [buy(till, person) for person in people]

    assert [points_of(person) - 13 for person in people] == [100, 100, 0, 0]
    assert bonuses.budget_given(budgeted) == 200
    till.post(f"/transactions/{sales[0]['id']}/void", {"reason": "x"})
    assert bonuses.budget_given(budgeted) == 100
    late = register(till, "0903000499")
    buy(till, late)
    assert points_of(late) == 113
    assert verify_ledger(merchant) == []


def test_a_budget_is_split_over_shards_and_a_change_keeps_what_was_given(merchant):
    budgeted = rule(merchant, BonusKind.EVENT, 10, event_type="x", budget=100_000)
    shards = BonusBudgetShard.objects.filter(rule=budgeted)
    assert shards.count() == bonuses.SHARDS
    assert sum(shards.values_list("cap", flat=True)) == 100_000
    BonusBudgetShard.objects.filter(rule=budgeted, shard=3).update(given=500)

    budgeted.budget = 1_000
    bonuses.save_bonus_rule(rule=budgeted)

    assert sum(shards.values_list("cap", flat=True)) == 1_000
    assert bonuses.budget_given(budgeted) == 500


def test_the_back_office_history_names_the_rule(till, merchant):
    rule(merchant, BonusKind.SIGN_UP, 50)
    member = register(till, "0903000501")
    entry = Entry.objects.get(account__member=member)
    assert entry.member_description == "Sign-up bonus: sign_up 50"


# --- back office and portal ---------------------------------------------------------------------------


def test_staff_configure_a_bonus_rule_and_see_another_merchants_as_404(client, merchant, other_merchant):
    from django.urls import reverse
    from tests.factories import staff_user

    theirs = rule(other_merchant, BonusKind.SIGN_UP, 5)
    client.force_login(staff_user(merchant, "marketing").user)
    add = reverse("admin:rewards_bonusrule_add")

    form = {"name": "App", "kind": "event", "points": 10, "referrer_points": 0, "min_amount": 0}
    missing_type = client.post(add, form)
    made = client.post(
        add, {**form, "event_type": "app_installed", "budget": 100_000, "per_day": 1, "is_active": "on"}
    )

    assert missing_type.status_code == 200  # the form says why
    assert missing_type.context["adminform"].form.non_field_errors() == [
        str(BonusRule._meta.constraints[3].violation_error_message)
    ]
    assert made.status_code == 302, made.content[:2000]
    saved = BonusRule.objects.get(merchant=merchant)
    assert (saved.event_type, saved.budget, saved.per_day) == ("app_installed", 100_000, 1)
    assert BonusBudgetShard.objects.filter(rule=saved).count() == bonuses.SHARDS
    assert client.get(reverse("admin:rewards_bonusrule_change", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("admin:rewards_bonusgrant_changelist")).status_code == 200


def test_back_office_registration_takes_a_referral_code(client, merchant):
    from django.urls import reverse
    from tests.factories import staff_user

    referrer = register_member(merchant=merchant, phone="0903000601")
    client.force_login(staff_user(merchant, "merchant_admin").user)
    add = reverse("admin:members_member_add")

    form = {
        "phone": "0903000602",
        "gender": "",
        "anniversaries-TOTAL_FORMS": "0",
        "anniversaries-INITIAL_FORMS": "0",
        "anniversaries-MIN_NUM_FORMS": "0",
        "anniversaries-MAX_NUM_FORMS": "1000",
    }
    wrong = client.post(add, {**form, "referred_by_code": "ZZZZZZZ"})
    assert wrong.status_code == 200 and not Member.objects.filter(phone="+84903000602").exists()
    assert list(wrong.context["adminform"].form.errors) == ["referred_by_code"]

    right = client.post(add, {**form, "referred_by_code": referral_code_of(referrer).lower()})

    assert right.status_code == 302, right.content[:3000]
    assert Member.objects.get(phone="+84903000602").referred_by == referrer


def test_the_portal_shows_the_members_code_friends_and_referral_points(client, till, merchant):
    from django.urls import reverse

    from tessera.portal.tests.test_portal import sign_in

    home = reverse("portal:home", args=[merchant.slug])
    referrer = register(till, "0903000701")
    sign_in(client, referrer)
    assert b'id="referral"' not in client.get(home).content  # no referral rule: no panel

    rule(merchant, BonusKind.REFERRAL, 20, referrer_points=40, min_amount=100_000)
    page = client.get(home).content.decode()
    code = Member.objects.get(pk=referrer.pk).referral_code
    assert f'id="referral-code">{code}<' in page
    friend = register(till, "0903000702", referral_code=code)
    buy(till, friend)

    page = client.get(home).content.decode()
    assert 'id="referral-count">1<' in page
    assert 'id="referral-points">40' in page


def test_a_rule_made_in_the_back_office_is_seen_by_the_very_next_api_request(till, merchant, member):
    """The rules are read from the configuration cache; saving one gives the merchant a new version."""
    body = {"member_id": member.pk, "type": "review_written"}
    assert till.post("/events", body).json()["points"] == 0  # cached: no rule

    rule(merchant, BonusKind.EVENT, 7, event_type="review_written")

    assert till.post("/events", body).json()["points"] == 7
