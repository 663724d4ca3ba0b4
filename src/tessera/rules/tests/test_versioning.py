"""E5 versioning: every save writes an immutable version; a sale keeps the versions and points it used."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from tessera.ledger.models import Entry
from tessera.rules.explain import describe_parts
from tessera.rules.models import EarningRuleVersion
from tessera.rules.tests.factories import edit_rule, make_rule
from tessera.sales import services as sales
from tessera.sales.models import Transaction
from tessera.sales.services import SaleLine
from tessera.sales.tests.conftest import PIN

pytestmark = pytest.mark.django_db

BASKET = [SaleLine("Phở bò", 2, 65000), SaleLine("Trà đá", 4, 5000)]  # 150,000 đồng


def test_e5_each_save_writes_the_next_version_and_keeps_the_old_one(merchant):
    rule = make_rule(merchant, "Base", points=2)
    first = rule.current_version

    rule = edit_rule(rule, points=Decimal(5), weekdays=[6, 7])

    assert list(rule.versions.values_list("number", flat=True)) == [2, 1]
    assert rule.current_version.number == 2
    assert first.snapshot["points"] == "2.0000" and first.snapshot["weekdays"] == []
    assert rule.current_version.snapshot["points"] == "5.0000" and rule.current_version.snapshot[
        "weekdays"
    ] == [6, 7]


def test_e5_a_version_cannot_be_changed_or_deleted(merchant):
    version = make_rule(merchant, "Base").current_version
    version.snapshot = {"name": "tampered"}
    with pytest.raises(RuntimeError):
        version.save()
    with pytest.raises(RuntimeError):
        version.delete()
    assert EarningRuleVersion.objects.get(pk=version.pk).snapshot["name"] == "Base"


def test_e5_editing_a_rule_after_a_confirmed_sale_does_not_change_the_sale(merchant, member, store):
    rule = make_rule(merchant, "Two per 10k", points=2)
    v1 = rule.current_version
    sale = sales.create_transaction(merchant=merchant, store=store, member=member, lines=BASKET)
    sales.confirm_transaction(transaction=sale, method="pin", pin=PIN)

    rule = edit_rule(rule, points=5)
    quote = sales.quote_sale(merchant=merchant, store=store, member=member, lines=BASKET)

    sale = Transaction.objects.get(pk=sale.pk)
    assert sale.points_earned == 30
    assert [(p["rule_id"], p["version_id"], p["points"]) for p in sale.earning_parts] == [
        (rule.pk, v1.pk, 30)
    ]
    assert Entry.objects.get(pk=sale.earn_entry_id).amount == 30
    assert "Two per 10k" in sale.earn_explanation
    assert quote.points_to_earn == 75
    assert [(p.version_id, p.points) for p in quote.earning] == [(rule.current_version_id, 75)]
    assert rule.current_version_id != v1.pk


def test_e5_a_sale_without_rules_records_the_flat_rate(merchant, member, store):
    sale = sales.create_transaction(merchant=merchant, store=store, member=member, lines=BASKET)

    assert sale.points_earned == 15
    assert [(p["rule_id"], p["version_id"], p["name"], p["points"]) for p in sale.earning_parts] == [
        (None, None, {"text": "Flat rate", "args": {}}, 15)
    ]
    # Kept as a message and its arguments, worded when read, in the reader's language (issue 14).
    with translation.override("en"):
        assert describe_parts(sale.earning_parts) == "Flat rate: 1 point(s) per ₫10,000 spent, rounded down"
    with translation.override("vi"):
        assert describe_parts(sale.earning_parts).startswith("Tỷ lệ cố định: 1 điểm")


def test_e4_points_added_by_hand_for_an_amount_follow_the_rules(merchant, member, store):
    make_rule(merchant, "Three per 10k", points=3)

    entry = sales.add_points(member=member, store=store, actor=None, amount_spent=100000)

    assert entry.amount == 30
