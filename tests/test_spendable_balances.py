"""Ledger answers never promise what can't be spent (issue 12, E4, E10, E11).

Points whose lot expired are gone at once, even before the nightly job writes the expiry entry: every
balance the product shows or answers (the POS API, the portal, the widget, the scanner, the member 360
page, the cashier screen) counts only what can be spent at that instant, and a spend takes exactly that.
Points added by hand with a date so old that they have already expired are refused, or recorded as
earned and expired when the operator says so."""

from __future__ import annotations

import csv
import io
import json
import re
import time as clock
import uuid
from datetime import timedelta
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tessera.backoffice.tests.shop import Shop, shop
from tessera.cards.balances import balances_of
from tessera.ledger import services as ledger
from tessera.ledger.models import Account, AccountKind, Entry, EntryKind
from tessera.ledger.selectors import verify_ledger
from tessera.ledger.tasks import expire_points
from tessera.points.services import save_policy
from tessera.portal import services as portal
from tessera.portal.session import session_key
from tessera.portal.tests.helpers import member_session
from tessera.portal.widget import sign
from tessera.tenancy.services import create_api_key
from tests.factories import staff_user

pytestmark = pytest.mark.django_db

PHONE = "0912345678"
LINES = [{"name": "Phở bò", "quantity": 2, "unit_price": 65000}]


class Pos:
    def __init__(self, till: Shop) -> None:
        key = create_api_key(merchant=till.merchant, name="Till", store=till.store_a).raw_key
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")

    def get(self, path: str, params: dict[str, Any]) -> Any:
        return self.client.get(f"/api/v1{path}", params)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(
            f"/api/v1{path}",
            body,
            content_type="application/json",
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )


@pytest.fixture
def till(merchant) -> Shop:
    return shop(merchant)


@pytest.fixture
def pos(till) -> Pos:
    return Pos(till)


def points_account(till: Shop) -> Account:
    return ledger.open_account(merchant=till.merchant, kind=AccountKind.POINTS, member=till.member)


def lookup(pos: Pos) -> dict[str, int]:
    answer = pos.get("/lookup", {"phone": PHONE})
    assert answer.status_code == 200, answer.content
    balances = answer.json()["balances"]
    return {"points": balances["points"], "available": balances["points_available"]}


def a_lapsed_lot(account: Account, amount: int) -> Entry:
    """Points earned long ago whose expiry passed an hour ago: the nightly job has not run since."""
    now = timezone.now()
    return ledger.credit(
        account=account,
        amount=amount,
        kind=EntryKind.EARN,
        source="test",
        expires_at=now - timedelta(hours=1),
        now=now - timedelta(days=400),
    )


# --- adding points that already expired ---------------------------------------------------------------


def _long_ago(till: Shop) -> tuple[str, str]:
    """An `occurred_on` 45 days back with a one-month validity, and the day those points expired."""
    save_policy(merchant=till.merchant, expiry_period=1)
    day = timezone.localdate(timezone=till.store_a.tz) - timedelta(days=45)
    expired = day + relativedelta(months=1)
    return day.isoformat(), expired.isoformat()


def test_issue_12_points_added_with_a_date_so_old_they_already_expired_are_refused(till, pos):
    occurred_on, expired_on = _long_ago(till)

    answer = pos.post("/points/add", {"phone": PHONE, "points": 50, "occurred_on": occurred_on})

    assert answer.status_code == 422, answer.content
    assert answer["Content-Type"] == "application/problem+json"
    problem = answer.json()
    assert (problem["code"], problem["earned_on"], problem["expired_on"]) == (
        "points_already_expired",
        occurred_on,
        expired_on,
    )
    assert expired_on in problem["detail"]
    assert not Entry.objects.filter(account__member=till.member).exists()
    assert lookup(pos) == {"points": 0, "available": 0}


def test_issue_12_with_record_expired_they_are_earned_and_expired_together_and_never_available(till, pos):
    occurred_on, expired_on = _long_ago(till)

    answer = pos.post(
        "/points/add", {"phone": PHONE, "points": 50, "occurred_on": occurred_on, "record_expired": True}
    )

    assert answer.status_code == 201, answer.content
    assert (answer.json()["points"], answer.json()["points_balance"], answer.json()["points_available"]) == (
        50,
        0,
        0,
    )
    entries = Entry.objects.filter(account__member=till.member).order_by("pk")
    assert [(e.kind, e.amount, e.balance_after) for e in entries] == [
        (EntryKind.ADJUST, 50, 50),
        (EntryKind.EXPIRE, -50, 0),
    ]
    assert entries[1].occurred_at.astimezone(till.store_a.tz).date().isoformat() == expired_on
    assert verify_ledger(till.merchant) == []
    assert lookup(pos) == {"points": 0, "available": 0}
    refused = pos.post("/points/deduct", {"phone": PHONE, "points": 50, "reason": "test"})
    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["spendable"]) == ("insufficient_balance", 0)
    assert expire_points() == 0  # nothing left for the nightly job


def test_issue_12_record_expired_must_be_a_real_boolean(till, pos):
    occurred_on, _expired_on = _long_ago(till)

    answer = pos.post(
        "/points/add", {"phone": PHONE, "points": 50, "occurred_on": occurred_on, "record_expired": 1}
    )

    assert answer.status_code == 422
    assert not Entry.objects.exists()


def test_issue_12_points_still_valid_are_added_as_before_even_when_record_expired_is_sent(till, pos):
    day = (timezone.localdate(timezone=till.store_a.tz) - timedelta(days=3)).isoformat()

    answer = pos.post(
        "/points/add", {"phone": PHONE, "points": 50, "occurred_on": day, "record_expired": True}
    )

    assert answer.status_code == 201, answer.content
    assert (answer.json()["points_balance"], answer.json()["points_available"]) == (50, 50)
    assert Entry.objects.filter(kind=EntryKind.EXPIRE).count() == 0


# --- a lot that expired between two nightly runs --------------------------------------------------------


def _portal_points(till: Shop) -> tuple[str, Any]:
    client = Client()
    session = member_session(client)
    session[session_key(till.merchant)] = till.member.pk
    session.save()
    response = client.get(reverse("portal:home", kwargs={"slug": till.merchant.slug}))
    assert response.status_code == 200
    return response.content.decode(), response.context["points"]


def _widget_points(till: Shop) -> dict[str, int]:
    shop_site = "https://shop.example"
    created = portal.rotate_widget_secret(merchant=till.merchant)
    portal.update_widget_settings(widget=created.settings, allowed_origins=[shop_site], is_enabled=True)
    stamp = str(int(clock.time()))
    response = Client().get(
        reverse("portal:widget_me", kwargs={"slug": till.merchant.slug}),
        HTTP_X_WIDGET_PHONE=PHONE,
        HTTP_X_WIDGET_TIMESTAMP=stamp,
        HTTP_X_WIDGET_TOKEN=sign(created.secret, PHONE, stamp),
        HTTP_ORIGIN=shop_site,
    )
    assert response.status_code == 200, response.content
    points: dict[str, int] = response.json()["points"]
    return points


def _scanner_points(till: Shop) -> tuple[int, int]:
    client = Client()
    client.force_login(staff_user(till.merchant, "cashier", stores=[till.store_a], username="scan").user)
    found = client.get(reverse("scanner:lookup"), {"q": till.card.number})
    assert found.status_code == 200, found.content
    return found.json()["balance"], found.json()["spendable"]


def _back_office_pages(till: Shop) -> tuple[str, str, str]:
    """The member 360 page, the cashier screen, and the member list's export: its points balance."""
    client = Client()
    client.force_login(staff_user(till.merchant, "merchant_admin", username="boss").user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    member_360 = client.get(reverse("backoffice:member_360", args=[till.member.pk]))
    cashier = client.get(reverse("backoffice:cashier"), {"member": till.member.pk, "card": till.card.pk})
    export = client.get(reverse("admin:members_member_export_csv"))
    assert member_360.status_code == cashier.status_code == export.status_code == 200
    header, row = csv.reader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig")))
    return member_360.content.decode(), cashier.content.decode(), row[header.index("points balance")]


def test_issue_12_a_lot_expired_since_the_nightly_run_is_shown_nowhere(till, pos):
    account = points_account(till)
    a_lapsed_lot(account, 80)
    ledger.credit(account=account, amount=30, kind=EntryKind.BONUS, source="test")
    assert Account.objects.get(pk=account.pk).balance == 110  # the ledger's record, until the job runs

    assert lookup(pos) == {"points": 30, "available": 30}
    quote = pos.post("/quote", {"phone": PHONE, "lines": LINES})
    assert (quote.json()["points_balance"], quote.json()["points_available"]) == (30, 30)
    page, summary = _portal_points(till)
    assert (summary.balance, summary.spendable, summary.pending) == (30, 30, 0)
    assert 'id="points-balance">30<' in page and 'id="points-spendable">30<' in page
    assert _widget_points(till) == {"balance": 30, "spendable": 30, "pending": 0}
    assert _scanner_points(till) == (30, 30)
    member_360, cashier, exported = _back_office_pages(till)
    assert 'id="points-balance">30<' in member_360 and 'id="points-available">30<' in member_360
    assert re.search(r'id="points-available">\s*30\s*<', cashier)
    assert exported == "30"

    # The nightly job changes the record, not the answers.
    assert expire_points() == 80
    assert lookup(pos) == {"points": 30, "available": 30}
    assert _widget_points(till) == {"balance": 30, "spendable": 30, "pending": 0}


def test_issue_12_points_available_is_exactly_what_a_deduct_can_take(till, pos):
    now = timezone.now()
    account = points_account(till)
    a_lapsed_lot(account, 40)
    # Pending a day, available since yesterday: the release job has not run yet.
    ledger.credit(
        account=account,
        amount=25,
        source="test",
        now=now - timedelta(days=2),
        available_at=now - timedelta(days=1),
    )
    ledger.credit(account=account, amount=20, source="test", available_at=now + timedelta(days=5))  # pending
    ledger.credit(account=account, amount=100, source="test")
    sale = pos.post("/transactions", {"phone": PHONE, "lines": LINES, "points_to_spend": 10})  # holds 10
    assert sale.status_code == 201, sale.content

    shown = pos.get("/lookup", {"phone": PHONE}).json()["balances"]
    # 185 in the ledger's record; 40 lapsed; 20 still pending; 10 held.
    assert (shown["points"], shown["points_available"], shown["points_pending"], shown["points_held"]) == (
        145,
        115,
        20,
        10,
    )
    # Dated back to when the lapsed lot was still valid: what can be taken is still judged now.
    yesterday_week = (timezone.localdate(timezone=till.store_a.tz) - timedelta(days=7)).isoformat()
    over = pos.post(
        "/points/deduct", {"phone": PHONE, "points": 116, "reason": "test", "occurred_on": yesterday_week}
    )
    assert over.status_code == 409, over.content
    assert over.json()["spendable"] == shown["points_available"]

    exact = pos.post("/points/deduct", {"phone": PHONE, "points": 115, "reason": "test"})

    assert exact.status_code == 201, exact.content
    assert (exact.json()["points_balance"], exact.json()["points_available"]) == (30, 0)
    assert lookup(pos) == {"points": 30, "available": 0}
    assert verify_ledger(till.merchant) == []


def test_issue_12_balances_are_read_with_the_accounts_in_the_same_statements(till):
    """The lookup's hot path: the expired-lot correction adds no statement to reading the accounts."""
    account = points_account(till)
    a_lapsed_lot(account, 80)
    ledger.credit(account=account, amount=30, source="test")

    with CaptureQueriesContext(connection) as reads:
        balances = balances_of(till.member, till.card)

    assert (balances.points, balances.points_available) == (30, 30)
    # The points account and the (absent) stored-value account: one statement (two before issue 13).
    assert len(reads.captured_queries) == 1, json.dumps([q["sql"] for q in reads.captured_queries])
