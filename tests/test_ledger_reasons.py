"""Ledger reasons are a code and its arguments, told in the reader's language (issue 13 item 1, issue 14
"stored English"; E4, E9, G1): staff read the code's text and any note, members read plain words and
never a staff note; entries written before codes had them are converted where their text is known."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import translation

from tessera.backoffice.tests.shop import confirmed_sale, shop
from tessera.ledger.models import Entry
from tessera.ledger.reasons import Reason, stored
from tessera.portal.session import session_key
from tessera.portal.tests.helpers import member_session
from tessera.sales import services as sales
from tests.factories import staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def voided(merchant):
    """A sale confirmed by an English-speaking API client, then voided with the cashier's note."""
    s = shop(merchant)
    with translation.override("en"):
        sale = confirmed_sale(member=s.member, store=s.store_a, amount=250_000)
        sales.void_transaction(transaction=sale, reason="khách đổi ý")
    s.sale = sale
    return s


def _staff_page(s, language: str) -> str:
    client = Client()
    client.force_login(staff_user(s.merchant, "merchant_admin").user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get(reverse("backoffice:member_360", args=[s.member.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_entries_store_a_code_and_arguments_not_text(voided):
    earn, reversal = sorted(Entry.objects.filter(source=voided.sale.source), key=lambda e: e.pk)

    assert (earn.reason_code, earn.reason_args, earn.reason) == ("sale", {"sale": voided.sale.pk}, "")
    assert (reversal.reason_code, reversal.reason_args, reversal.reason) == (
        "sale_voided",
        {"sale": voided.sale.pk},
        "khách đổi ý",
    )


@pytest.mark.parametrize(
    ("language", "sale", "void"),
    [
        ("vi", "Giao dịch bán #{n}", "Đã hủy giao dịch bán #{n} — khách đổi ý"),
        ("zh-hans", "交易 #{n}", "交易 #{n} 已作废 — khách đổi ý"),
        ("en", "Sale #{n}", "Sale #{n} voided — khách đổi ý"),
    ],
)
def test_staff_read_the_reason_in_their_language_with_the_note(voided, language, sale, void):
    page = _staff_page(voided, language)

    n = voided.sale.pk
    assert f"<td>{sale.format(n=n)}</td>" in page
    assert f"<td>{void.format(n=n)}</td>" in page


def test_members_read_plain_words_and_never_a_staff_note(client, voided):
    voided.merchant.default_language = "vi"
    voided.merchant.save()
    session = member_session(client)
    session[session_key(voided.merchant)] = voided.member.pk
    session.save()

    page = client.get(reverse("portal:history", kwargs={"slug": voided.merchant.slug})).content.decode()

    n = voided.sale.pk
    assert f"Giao dịch bán #{n}" in page and f"Đã hủy giao dịch bán #{n}" in page
    assert "khách đổi ý" not in page
    assert "Bút toán đảo" not in page  # the accounting term for a reversal


def test_an_entry_without_a_code_reads_in_plain_words_for_the_member():
    entry = Entry(kind="reversal", amount=-5, reason="internal: duplicate receipt")
    with translation.override("vi"):
        assert entry.description == "internal: duplicate receipt"
        assert entry.member_description == "Điểm bị thu hồi (trả hàng hoặc hủy giao dịch)"


def test_an_unknown_code_is_refused_when_written_and_a_plain_string_is_a_note():
    with pytest.raises(ValueError, match="unknown ledger reason code"):
        Reason("sale_typo")
    assert stored("typed by a cashier") == {
        "reason_code": "",
        "reason_args": {},
        "reason": "typed by a cashier",
    }


def test_old_entries_with_known_texts_become_codes(voided):
    """Rows written before codes (their text in the language of the request) are converted in place;
    texts that can't be recognised stay as written."""
    points = Entry.objects.filter(source=voided.sale.source).first().account
    n = voided.sale.pk
    with translation.override("en"):
        written = [
            _old(points, f"sale:{n}", f"Sale #{n}"),
            _old(points, f"sale:{n}", f"Đã hủy giao dịch bán #{n}"),
            _old(points, "topup:1", "充值"),  # Top-up, written by a Chinese back office
            _old(points, "import:1", "Số dư đầu kỳ"),
            _old(points, "manual:add", "bill 77"),
        ]
    migration = importlib.import_module("tessera.ledger.migrations.0005_entry_reason_codes_from_text")
    if connection.vendor == "postgresql":
        # A migration starts with no deferred checks pending; ALTER TABLE refuses to run while they are.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    migration.forwards(apps, SimpleNamespace(connection=connection))

    after = {e.pk: (e.reason_code, e.reason_args, e.reason) for e in Entry.objects.filter(pk__in=written)}
    assert [after[pk] for pk in written] == [
        ("sale", {"sale": n}, ""),
        ("sale_voided", {"sale": n}, ""),
        ("top_up", {}, ""),
        ("opening_balance", {}, ""),
        ("", {}, "bill 77"),
    ]
    with translation.override("en"):
        assert Entry.objects.get(pk=written[1]).description == f"Sale #{n} voided"
    # The append-only guard is back on.
    if connection.vendor == "postgresql":
        with pytest.raises(Exception, match="append-only"), transaction.atomic():
            Entry.objects.filter(pk=written[0]).update(reason="x")


def _old(account, source: str, text: str) -> int:
    """An entry as written before codes: the text in `reason`, no code."""
    entry = Entry(
        merchant_id=account.merchant_id,
        account=account,
        kind="adjust",
        amount=1,
        balance_after=account.balance,
        source=source,
        reason=text,
        occurred_at=Entry.objects.filter(account=account).first().occurred_at,
    )
    entry.save()
    return entry.pk
