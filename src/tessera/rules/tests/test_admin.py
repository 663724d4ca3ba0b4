"""E5 back office: the rule form (formula checked on save, with the reason), version history, the simulator
page; never across merchants (A1, B2)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from tests.factories import MemberFactory, StoreFactory, staff_user

from tessera.rules.models import EarningRule
from tessera.rules.tests.factories import edit_rule, make_rule

pytestmark = pytest.mark.django_db

ADD = reverse("admin:rules_earningrule_add")
SIMULATOR = reverse("admin:rules_earningrule_simulator")


def change_url(rule: EarningRule) -> str:
    return reverse("admin:rules_earningrule_change", args=[rule.pk])


def form_data(**fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Weekend formula",
        "priority": "100",
        "is_active": "on",
        "combine": "add",
        "birthday_window": "",
        "effect": "formula",
        "rounding": "down",
        "formula": "amount / 10000 * 2",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000",
    }
    data.update(fields)
    return data


@pytest.fixture
def admin_of(client, merchant):
    staff = staff_user(merchant, "merchant_admin")
    client.force_login(staff.user)
    return staff


def test_e5_a_broken_formula_is_refused_on_the_form_with_the_reason(client, merchant, admin_of):
    response = client.post(ADD, form_data(formula="amount * bonus"))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "Tên “bonus” không xác định" in errors["formula"][0]  # the reason, in the staff's language
    assert not EarningRule.objects.of(merchant).exists()


def test_e5_staff_create_and_edit_a_rule_and_each_save_is_a_version(client, merchant, admin_of, store):
    created = client.post(ADD, form_data(days=["6", "7"], stores=[str(store.pk)], tiers="GOLD, SILVER"))

    assert created.status_code == 302, created.context["adminform"].form.errors if created.context else ""
    rule = EarningRule.objects.of(merchant).get()
    assert (rule.weekdays, rule.store_ids, rule.tier_codes) == ([6, 7], [store.pk], ["GOLD", "SILVER"])
    assert rule.current_version.number == 1
    assert rule.created_by == admin_of.user

    edited = client.post(
        change_url(rule),
        form_data(
            formula="amount / 10000 * 3",
            days=["6"],
            **{
                "versions-TOTAL_FORMS": "1",
                "versions-INITIAL_FORMS": "1",
                "versions-0-id": str(rule.current_version_id),
                "versions-0-rule": str(rule.pk),
            },
        ),
    )

    assert edited.status_code == 302
    rule.refresh_from_db()
    assert rule.current_version.number == 2
    assert rule.current_version.snapshot["formula"] == "amount / 10000 * 3"
    assert rule.versions.get(number=1).snapshot["formula"] == "amount / 10000 * 2"
    page = client.get(change_url(rule)).content.decode()
    assert "amount / 10000 * 2" in page  # the version history shows the old version


def test_e5_the_form_offers_only_the_merchants_stores(client, merchant, other_merchant, admin_of):
    theirs = StoreFactory(merchant=other_merchant)

    response = client.post(ADD, form_data(stores=[str(theirs.pk)]))

    assert response.status_code == 200
    assert "stores" in response.context["adminform"].form.errors
    assert not EarningRule.objects.exists()


def test_e5_simulator_page_shows_the_breakdown(client, merchant, admin_of, store):
    MemberFactory(merchant=merchant, phone="+84903123456")
    make_rule(merchant, "Base", points=1, priority=1)
    make_rule(merchant, "Monday double", effect="multiplier", multiplier=2, weekdays=[1], priority=2)

    response = client.post(
        SIMULATOR,
        {
            "amount": "150.000",  # typed the Vietnamese way (issue 14): 150 thousand đồng
            "phone": "0903 123 456",
            "store": str(store.pk),
            "date": "2026-03-02",
            "time": "12:00",
        },
    )

    assert response.status_code == 200
    result = response.context["result"]
    assert result.points == 30
    assert [(p.name, p.points) for p in result.parts] == [("Base", 15), ("Monday double", 15)]
    assert "Monday double" in response.content.decode()


def test_e5_simulator_does_not_find_another_merchants_member(
    client, merchant, other_merchant, admin_of, store
):
    MemberFactory(merchant=other_merchant, phone="+84903123456")

    response = client.post(SIMULATOR, {"amount": "150000", "phone": "0903123456", "store": str(store.pk)})

    assert response.status_code == 200
    assert response.context["result"] is None
    assert "phone" in response.context["form"].errors


def test_a1_staff_cannot_open_another_merchants_rule_or_version(client, merchant, other_merchant, admin_of):
    theirs = make_rule(other_merchant, "Their secret rule")
    edit_rule(theirs, priority=5)
    mine = make_rule(merchant, "Mine")

    assert client.get(change_url(theirs)).status_code == 404
    version_url = reverse("admin:rules_earningruleversion_change", args=[theirs.current_version_id])
    assert client.get(version_url).status_code == 404
    listing = client.get(reverse("admin:rules_earningrule_changelist")).content.decode()
    assert "Mine" in listing and "Their secret rule" not in listing
    versions = client.get(reverse("admin:rules_earningruleversion_changelist")).content.decode()
    assert "Their secret rule" not in versions
    assert client.get(change_url(mine)).status_code == 200


def test_b1_a_cashier_may_simulate_but_not_change_rules(client, merchant, store):
    rule = make_rule(merchant, "Base")
    client.force_login(staff_user(merchant, "cashier").user)

    assert client.get(SIMULATOR).status_code == 200
    assert client.get(ADD).status_code == 403
    assert client.post(change_url(rule), form_data(name="Hacked")).status_code == 403
    assert EarningRule.objects.get(pk=rule.pk).name == "Base"


def test_issue_15_a_product_rule_is_written_on_the_form_with_its_lines_and_multipliers(
    client, merchant, admin_of
):
    response = client.post(
        ADD,
        form_data(
            name="Brand days",
            effect="line_multiplier",
            formula="",
            include_categories="hair, skin, hair",
            exclude_labels="promo:tet",
            multipliers="label:brand:loreal = 2\nsku:SH-1 = 3",
        ),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    rule = EarningRule.objects.of(merchant).get(name="Brand days")
    assert (rule.include_categories, rule.exclude_labels) == (["hair", "skin"], ["promo:tet"])
    assert rule.line_multipliers == [
        {"match": "label", "value": "brand:loreal", "factor": "2"},
        {"match": "sku", "value": "SH-1", "factor": "3"},
    ]
    assert rule.current_version.snapshot["line_multipliers"] == rule.line_multipliers
    bad = client.post(
        ADD, form_data(name="Bad", effect="line_multiplier", formula="", multipliers="sku:X = 0.5")
    )
    assert bad.status_code == 200
    assert list(bad.context["adminform"].form.errors) == ["multipliers"]  # the page is in Vietnamese


def test_issue_15_the_simulator_page_shows_each_lines_points(client, merchant, admin_of, store):
    MemberFactory(merchant=merchant, phone="+84903123456")
    make_rule(merchant, "Base", points=1, priority=1)
    make_rule(merchant, "Shampoo", effect="product", bonus_points=20, include_skus=["SH-1"], priority=2)

    response = client.post(
        SIMULATOR,
        {
            "phone": "0903 123 456",
            "store": str(store.pk),
            "lines": "SH-1; 2; 200.000; hair; brand:loreal\nCR-1; 1; 150.000",
        },
    )

    assert response.status_code == 200, response.context["form"].errors
    result = response.context["result"]
    assert [(line.sku, line.points) for line in result.lines] == [("SH-1", 60), ("CR-1", 15)]
    assert 'id="simulation-lines"' in response.content.decode()
