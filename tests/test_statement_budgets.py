"""Each point-of-sale request keeps its statement budget (issue 13 item 8).

The budgets are the issue's, counted as PostgreSQL's own log counts them (what `posprobe` reads): the
connection's health check, BEGIN and COMMIT included, in the steady state (the merchant's configuration
already cached by an earlier request). Here the statements are counted by Django
(`CaptureQueriesContext`). It never sees the health check (run on the raw connection), and sees BEGIN
and COMMIT on one backend and not on another; so BEGIN/COMMIT are left out of the capture and each
budget is compared with the captured count plus a fixed overhead, the same on both: 1 for a read (the
health check), 3 for a write (health check, BEGIN, COMMIT).

The tests run in real transactions (`transaction=True`), as a request in production does: inside the
usual test transaction every atomic block would be a savepoint and count twice. Both backends run them;
SQLite issues the same statements (BEGIN IMMEDIATE instead of BEGIN).

Two configurations, as in the issue: posprobe's (no tier program, no webhook endpoints, sales confirmed
with method `none`, no points spent), and with a tier program of three tiers (`tiered`). An occasion
discount (issue 15 §3) that applies, with a limit of uses, adds `OCCASION_ALLOWANCE`; one configured
that does not apply to the member adds nothing. A third configuration, posprobe's with a first-purchase
and a referral bonus rule (`bonuses`, issue 15 §5), may spend `BONUS_ALLOWANCE` more; without such
rules nothing changes.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tessera.members.models import Member
from tessera.members.services import register_member, set_member_pin
from tessera.points.models import Policy
from tessera.rewards.bonuses import save_bonus_rule
from tessera.rewards.models import BonusKind, BonusRule, OccasionDiscount
from tessera.sales.models import SalesSettings
from tessera.tenancy.services import create_api_key, create_merchant, create_store
from tessera.tiers.models import Tier, TierProgram
from tessera.tiers.services import save_program, save_tier

pytestmark = pytest.mark.django_db(transaction=True)

#: What PostgreSQL's log counts that Django's capture does not (see the module docstring).
READ_OVERHEAD = 1
WRITE_OVERHEAD = 3

#: Statements per request as PostgreSQL's log counts them: (posprobe's configuration, with tiers).
BUDGETS: dict[str, tuple[int, int]] = {
    "lookup": (3, 4),
    "quote": (3, 4),
    "points/add": (11, 13),
    "sale": (24, 26),
    "sale without points": (15, 18),
    "sale spending points": (32, 34),
    "void": (14, 16),
    "refund by line": (14, 16),
}
#: What a birthday discount limited to one use per member adds, when it applies (`rewards.occasions`):
#: the quote reads the member's uses (+1); the sale's create quotes (+1) and its confirm counts the use
#: in one upsert (+1); the void gives it back (+1). A refund that does not complete the return keeps it.
OCCASION_ALLOWANCE: dict[str, int] = {"quote": 1, "sale": 2, "void": 1, "refund by line": 0}
#: What a first-purchase or referral rule adds to posprobe's budgets (`tessera.sales.bonuses`), for a
#: member's purchase after their first: confirming asks whether the member bought before (+1), a void
#: looks for the bonuses the sale earned (+1), a refund by line that leaves lines unreturned keeps them
#: (+0; only the refund completing the return looks, +1). Sign-up, profile and event rules are not read
#: by these requests at all.
BONUS_ALLOWANCE: dict[str, int] = {"sale": 1, "void": 1, "refund by line": 0}
SALE_LINES = [
    {"sku": "PHO", "name": "Pho", "quantity": 2, "unit_price": 65000},
    {"sku": "TRA", "name": "Tra da", "quantity": 4, "unit_price": 5000},
]
_phones = itertools.count(1)


@dataclass
class Till:
    client: Client
    phones: list[str]

    def get(self, path: str) -> Any:
        return self.client.get(f"/api/v1{path}")

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(
            f"/api/v1{path}",
            body,
            content_type="application/json",
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )


def a_till(*, tiered: bool, bonuses: bool = False) -> Till:
    """posprobe's merchant: one store, a store-bound key, confirmation by nobody, members with phones."""
    merchant = create_merchant(name="Budget", slug=f"budget-{uuid.uuid4().hex[:8]}", currency="VND")
    if bonuses:
        for kind, extra in ((BonusKind.FIRST_PURCHASE, {}), (BonusKind.REFERRAL, {"referrer_points": 50})):
            save_bonus_rule(rule=BonusRule(merchant=merchant, name=kind, kind=kind, points=100, **extra))
    store = create_store(merchant=merchant, code="main", name="Main")
    SalesSettings.objects.update_or_create(
        merchant=merchant,
        defaults={"confirm_with_pin": False, "confirm_with_otp": False, "confirm_with_staff": False},
    )
    Policy.for_merchant(merchant)  # the points policy with its defaults, as the sales settings
    if tiered:
        save_program(
            program=TierProgram(merchant=merchant, basis="spend", window="rolling_months", window_months=12),
            actor=None,
        )
        for rank, (code, threshold) in enumerate(
            (("silver", 1000000), ("gold", 5000000), ("diamond", 15000000)), 1
        ):
            save_tier(
                tier=Tier(merchant=merchant, code=code, name=code.title(), rank=rank, threshold=threshold),
                actor=None,
            )
    phones = [f"+8490{next(_phones):07d}" for _ in range(6)]
    for phone in phones:
        register_member(merchant=merchant, full_name="Budget", phone=phone)
    key = create_api_key(merchant=merchant, name="till", store=store).raw_key
    return Till(Client(HTTP_AUTHORIZATION=f"Bearer {key}"), phones)


def counted(call: Any) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = call()
    return response, [query["sql"] for query in captured.captured_queries]


def within(
    name: str,
    statements: list[str],
    *,
    write: bool,
    tiered: bool,
    occasion: bool = False,
    bonuses: bool = False,
) -> None:
    budget = (
        BUDGETS[name][tiered]
        + (OCCASION_ALLOWANCE[name] if occasion else 0)
        + (BONUS_ALLOWANCE[name] if bonuses else 0)
    )
    # SQLite's backend sends BEGIN IMMEDIATE and COMMIT through the cursor Django watches; counted once.
    work = [sql for sql in statements if sql.split(" ", 1)[0].upper() not in ("BEGIN", "COMMIT")]
    logged = len(work) + (WRITE_OVERHEAD if write else READ_OVERHEAD)
    assert not [sql for sql in statements if "SAVEPOINT" in sql.upper()], "no savepoints on the hot path"
    shown = [sql[:160] for sql in statements]
    assert logged <= budget, f"{name}: {logged} statements > {budget}:\n" + json.dumps(shown, indent=1)


@pytest.mark.parametrize("tiered", [False, True], ids=["posprobe", "tiered"])
def test_lookup_and_quote_within_budget(tiered):
    till = a_till(tiered=tiered)
    till.get(f"/lookup?phone={till.phones[0]}")  # the configuration is read once, then cached
    till.post("/quote", {"phone": till.phones[0], "lines": SALE_LINES})

    response, statements = counted(lambda: till.get(f"/lookup?phone={till.phones[1]}"))
    assert response.status_code == 200, response.content
    within("lookup", statements, write=False, tiered=tiered)

    response, statements = counted(
        lambda: till.post("/quote", {"phone": till.phones[2], "lines": SALE_LINES})
    )
    assert response.status_code == 200, response.content
    within("quote", statements, write=False, tiered=tiered)


@pytest.mark.parametrize("tiered", [False, True], ids=["posprobe", "tiered"])
def test_points_add_within_budget(tiered):
    till = a_till(tiered=tiered)
    till.post("/points/add", {"phone": till.phones[0], "amount_spent": 150000})
    till.post("/points/add", {"phone": till.phones[1], "amount_spent": 150000})  # its account exists now

    response, statements = counted(
        lambda: till.post("/points/add", {"phone": till.phones[1], "amount_spent": 150000, "note": "count"})
    )
    assert response.status_code == 201, response.content
    within("points/add", statements, write=True, tiered=tiered)


def two_writes(first: list[str], second: list[str]) -> list[str]:
    """Two write requests counted as one: the first one's overhead stands in the list (the second
    one's is added by `within`)."""
    return [*first, *["-- health check, BEGIN, COMMIT of the first request"] * WRITE_OVERHEAD, *second]


def a_sale(till: Till, phone: str, **extra: Any) -> tuple[Any, Any]:
    """POST /transactions then POST …/confirm (method `none` unless `extra` says otherwise)."""
    confirm = extra.pop("confirm", {"method": "none"})
    created = till.post("/transactions", {"phone": phone, "lines": SALE_LINES, **extra})
    assert created.status_code == 201, created.content
    confirmed = till.post(f"/transactions/{created.json()['id']}/confirm", confirm)
    assert confirmed.status_code == 200, confirmed.content
    return created, confirmed


CONFIGURATIONS = pytest.mark.parametrize(
    ("tiered", "bonuses"),
    [(False, False), (True, False), (False, True)],
    ids=["posprobe", "tiered", "bonuses"],
)


@CONFIGURATIONS
def test_sale_within_budget(tiered, bonuses):
    till = a_till(tiered=tiered, bonuses=bonuses)
    a_sale(till, till.phones[0])  # the configuration is read once, then cached
    a_sale(till, till.phones[1])  # the member's account exists now

    created, creating = counted(
        lambda: till.post("/transactions", {"phone": till.phones[1], "lines": SALE_LINES})
    )
    assert created.status_code == 201, created.content
    sale = created.json()["id"]
    confirmed, confirming = counted(lambda: till.post(f"/transactions/{sale}/confirm", {"method": "none"}))
    assert confirmed.status_code == 200, confirmed.content
    within("sale", two_writes(creating, confirming), write=True, tiered=tiered, bonuses=bonuses)


@pytest.mark.parametrize("tiered", [False, True], ids=["posprobe", "tiered"])
def test_sale_without_points_within_budget(tiered):
    """A sale below the amount that earns a point: no EARN entry; with a tier program its spend is
    written for the ranking instead (issue 15 §2), one INSERT."""
    till = a_till(tiered=tiered)
    small = [{"sku": "TRA", "name": "Tra da", "quantity": 1, "unit_price": 5000}]
    a_sale(till, till.phones[0], lines=small)  # the configuration is read once, then cached
    a_sale(till, till.phones[1], lines=small)

    created, creating = counted(lambda: till.post("/transactions", {"phone": till.phones[1], "lines": small}))
    assert created.status_code == 201, created.content
    sale = created.json()["id"]
    confirmed, confirming = counted(lambda: till.post(f"/transactions/{sale}/confirm", {"method": "none"}))
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["points_earned"] == 0
    within("sale without points", two_writes(creating, confirming), write=True, tiered=tiered)


@pytest.mark.parametrize("tiered", [False, True], ids=["posprobe", "tiered"])
def test_sale_spending_points_confirmed_by_pin_within_budget(tiered):
    """bench/pos.py's flow: 10 points spent, the sale confirmed with the member's PIN."""
    till = a_till(tiered=tiered)
    settings = SalesSettings.objects.get(merchant=Member.objects.get(phone=till.phones[0]).merchant_id)
    settings.confirm_with_pin = True
    settings.save()
    for phone in till.phones[:2]:
        set_member_pin(member=Member.objects.get(phone=phone), pin="2468")
        till.post("/points/add", {"phone": phone, "points": 1000})
    spend = {"points_to_spend": 10, "confirm": {"method": "pin", "pin": "2468"}}
    a_sale(till, till.phones[0], **dict(spend))  # the configuration is read once, then cached
    a_sale(till, till.phones[1], **dict(spend))

    basket = {"phone": till.phones[1], "lines": SALE_LINES, "points_to_spend": 10}
    created, creating = counted(lambda: till.post("/transactions", basket))
    assert created.status_code == 201, created.content
    sale = created.json()["id"]
    confirmed, confirming = counted(
        lambda: till.post(f"/transactions/{sale}/confirm", {"method": "pin", "pin": "2468"})
    )
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["status"] == "confirmed"
    within("sale spending points", two_writes(creating, confirming), write=True, tiered=tiered)


@CONFIGURATIONS
def test_void_within_budget(tiered, bonuses):
    till = a_till(tiered=tiered, bonuses=bonuses)
    a_sale(till, till.phones[0])
    a_sale(till, till.phones[1])  # with bonuses: the member's first purchase, which is never voided here
    first = a_sale(till, till.phones[1])[1].json()
    till.post(f"/transactions/{first['id']}/void", {"reason": "warm-up"})  # the configuration is cached

    sale = a_sale(till, till.phones[1])[1].json()
    response, statements = counted(lambda: till.post(f"/transactions/{sale['id']}/void", {"reason": "count"}))
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "voided"
    within("void", statements, write=True, tiered=tiered, bonuses=bonuses)


@CONFIGURATIONS
def test_refund_by_line_within_budget(tiered, bonuses):
    till = a_till(tiered=tiered, bonuses=bonuses)
    a_sale(till, till.phones[0])
    first = a_sale(till, till.phones[1])[1].json()
    line = {"line_id": first["lines"][0]["id"], "quantity": 1}
    till.post(f"/transactions/{first['id']}/refunds", {"lines": [line], "reason": "warm-up"})

    sale = a_sale(till, till.phones[1])[1].json()
    refund = {"lines": [{"line_id": sale["lines"][0]["id"], "quantity": 1}], "reason": "count"}
    response, statements = counted(lambda: till.post(f"/transactions/{sale['id']}/refunds", refund))
    assert response.status_code == 201, response.content
    sold = sale["lines"][0]  # 2 units: one takes back half the line's points, rounded down (issue 15 §4)
    assert response.json()["lines"] == [
        {**refund["lines"][0], "amount": 65000, "points_reversed": sold["points"] // sold["quantity"]}
    ]
    within("refund by line", statements, write=True, tiered=tiered, bonuses=bonuses)


@pytest.mark.parametrize("applies", [False, True], ids=["not-their-birthday", "birthday"])
def test_occasion_discount_within_its_allowance(applies):
    """A birthday discount, once per birthday month: for members whose birthday month it is, the quote,
    the sale, the void and a partial refund within budget plus `OCCASION_ALLOWANCE`; for the others,
    within posprobe's budget."""
    till = a_till(tiered=False)
    merchant = Member.objects.get(phone=till.phones[0]).merchant
    today = datetime.now(merchant.tz).date()
    birthday = date(1990, today.month, min(today.day, 28)) if applies else None
    Member.objects.filter(phone__in=till.phones).update(birthday=birthday)
    OccasionDiscount.objects.create(
        merchant=merchant, name="Birthday", kind="birthday", period="month", percent=10, max_uses=1
    )
    a_sale(till, till.phones[0])  # the configuration is read once, then cached

    response, statements = counted(
        lambda: till.post("/quote", {"phone": till.phones[1], "lines": SALE_LINES})
    )
    assert response.status_code == 200, response.content
    assert bool(response.json()["discounts"]) is applies
    within("quote", statements, write=False, tiered=False, occasion=applies)

    till.post("/points/add", {"phone": till.phones[2], "points": 10})  # the member's account exists now
    created, creating = counted(
        lambda: till.post("/transactions", {"phone": till.phones[2], "lines": SALE_LINES})
    )
    assert created.status_code == 201, created.content
    assert created.json()["discount_amount"] == (15000 if applies else 0)
    sale = created.json()["id"]
    confirmed, confirming = counted(lambda: till.post(f"/transactions/{sale}/confirm", {"method": "none"}))
    assert confirmed.status_code == 200, confirmed.content
    within("sale", two_writes(creating, confirming), write=True, tiered=False, occasion=applies)

    response, statements = counted(lambda: till.post(f"/transactions/{sale}/void", {"reason": "count"}))
    assert response.status_code == 200, response.content
    within("void", statements, write=True, tiered=False, occasion=applies)

    sale = a_sale(till, till.phones[3])[1].json()
    refund = {"lines": [{"line_id": sale["lines"][0]["id"], "quantity": 1}], "reason": "count"}
    response, statements = counted(lambda: till.post(f"/transactions/{sale['id']}/refunds", refund))
    assert response.status_code == 201, response.content
    within("refund by line", statements, write=True, tiered=False, occasion=applies)
