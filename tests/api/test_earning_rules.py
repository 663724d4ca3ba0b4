"""Earning rules in the management API (issue 17): list, read, create, change with If-Match, archive,
and a draft simulated before saving; through the back office's form, with its messages; each version
names the key that saved it."""

from __future__ import annotations

import pytest

from tessera.core.api_forms import field_errors
from tessera.rules import services
from tessera.rules.admin import EarningRuleForm
from tessera.rules.models import EarningRule, Effect
from tests.factories import MemberFactory, staff_user

pytestmark = pytest.mark.django_db

TUESDAYS = {
    "name": "Double points on Tuesdays",
    "priority": 50,
    "days": [2],
    "effect": "multiplier",
    "multiplier": "2",
}


def _create(api, body):  # type: ignore[no-untyped-def]
    created = api.post("/earning-rules", body)
    assert created.status_code == 201, created.json()
    return created.json()


def test_an_admin_key_creates_lists_reads_changes_and_archives_a_rule(admin, merchant, store) -> None:  # type: ignore[no-untyped-def]
    rule = _create(admin, {**TUESDAYS, "stores": [store.pk], "tiers": ["gold", "silver"]})
    assert (rule["version"], rule["days"], rule["stores"], rule["tiers"]) == (
        1,
        [2],
        [store.pk],
        ["gold", "silver"],
    )

    listed = admin.get("/earning-rules?limit=10&offset=0").json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == rule["id"]

    changed = admin.change(f"/earning-rules/{rule['id']}", {"multiplier": "3", "days": [2, 4]})
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["multiplier"], changed.json()["days"], changed.json()["version"]) == (
        "3.0000",
        [2, 4],
        2,
    )

    archived = admin.post(f"/earning-rules/{rule['id']}/archive")
    assert archived.status_code == 200 and archived.json()["is_active"] is False
    saved = EarningRule.objects.get(pk=rule["id"])
    assert (saved.is_active, saved.current_version.number, saved.name) == (False, 3, TUESDAYS["name"])
    assert [v.api_key_id for v in saved.versions.all()] == [admin.key.key.pk] * 3


def test_a_draft_rule_is_simulated_and_nothing_is_saved(admin, merchant, store) -> None:  # type: ignore[no-untyped-def]
    MemberFactory(merchant=merchant, phone="+84903123456")
    draft = {"name": "Fixed 50", "effect": "fixed", "bonus_points": 50}

    answer = admin.post(
        "/earning-rules/simulate",
        {"rule": draft, "phone": "0903123456", "store_code": store.code, "amount": 100000},
    )

    assert answer.status_code == 200, answer.json()
    assert answer.json()["points"] == 50
    assert [part["points"] for part in answer.json()["parts"]] == [50]
    assert not EarningRule.objects.exists()


def test_a_draft_replaces_the_rule_it_edits(admin, merchant, store) -> None:  # type: ignore[no-untyped-def]
    MemberFactory(merchant=merchant, phone="+84903123456")
    rule = _create(admin, {"name": "Fixed 50", "effect": "fixed", "bonus_points": 50})
    body = {
        "rule": {"bonus_points": 80},
        "rule_id": rule["id"],
        "phone": "0903123456",
        "store_code": store.code,
        "amount": 100000,
    }

    assert admin.post("/earning-rules/simulate", body).json()["points"] == 80
    assert EarningRule.objects.get(pk=rule["id"]).bonus_points == 50


def test_without_if_match_428_and_after_a_back_office_edit_412(admin, merchant) -> None:  # type: ignore[no-untyped-def]
    rule = _create(admin, TUESDAYS)
    path = f"/earning-rules/{rule['id']}"
    read = admin.get(path)["ETag"]
    assert admin.patch(path, {"priority": 10}).status_code == 428
    edited = EarningRule.objects.get(pk=rule["id"])
    edited.priority = 20
    services.save_rule(rule=edited, actor=staff_user(merchant, "merchant_admin").user)

    refused = admin.patch(path, {"priority": 10}, etag=read)

    assert refused.status_code == 412 and refused.json()["code"] == "precondition_failed"
    assert EarningRule.objects.get(pk=rule["id"]).priority == 20


def test_the_api_refuses_with_the_back_offices_messages(admin, merchant) -> None:  # type: ignore[no-untyped-def]
    bad = {"name": "Broken", "effect": Effect.FORMULA, "formula": "amount / (", "hour_from": 9}
    form = type("Form", (EarningRuleForm,), {"merchant_id": merchant.pk})(
        data={**bad, "merchant": merchant.pk, "priority": 100, "rounding": "down", "combine": "add"}
    )
    assert not form.is_valid()

    refused = admin.post("/earning-rules", bad)

    assert refused.status_code == 422
    body = refused.json()
    assert body["code"] == "invalid_rule"
    assert field_errors(body["errors"])["formula"] == form.errors["formula"]
    assert field_errors(body["errors"])["hour_until"] == form.errors["hour_until"]
    assert not EarningRule.objects.exists()


def test_scopes_another_merchants_ids_and_store_keys(admin, admin_read, till, stranger) -> None:  # type: ignore[no-untyped-def]
    rule = _create(admin, TUESDAYS)
    path = f"/earning-rules/{rule['id']}"
    assert admin_read.get(path).status_code == 200
    for client in (admin_read, till):
        assert client.patch(path, {"priority": 1}, etag="*").status_code == 403
        assert client.post("/earning-rules", TUESDAYS).status_code == 403
        assert client.post(path + "/archive").status_code == 403
    assert till.get(path).status_code == 403
    for answer in (
        stranger.get(path),
        stranger.patch(path, {"priority": 1}, etag="*"),
        stranger.post(path + "/archive"),
        stranger.post(
            "/earning-rules/simulate", {"rule": {}, "rule_id": rule["id"], "phone": "0903123456", "amount": 1}
        ),
    ):
        assert answer.status_code == 404 and answer.json()["code"] == "rule_not_found"
    assert stranger.get("/earning-rules").json()["count"] == 0


def test_product_rules_by_api_lines_filters_and_multipliers_issue_15(admin, merchant, store) -> None:  # type: ignore[no-untyped-def]
    """Issue 15 §4 through the management API: a rule's line filters, minimum quantity, per-product
    multipliers and fixed points per product are read and written as on the back office's form; a
    draft product rule is simulated per line."""
    rule = _create(
        admin,
        {
            "name": "Hair care ×3",
            "priority": 40,
            "effect": "line_multiplier",
            "include_categories": ["hair", "nails"],
            "exclude_skus": ["SHIP"],
            "multipliers": ["category:hair = 3", "label:brand:loreal = 2"],
            "min_quantity": 2,
        },
    )
    assert rule["include_categories"] == ["hair", "nails"] and rule["exclude_skus"] == ["SHIP"]
    assert rule["multipliers"] == ["category:hair = 3", "label:brand:loreal = 2"]
    assert (rule["min_quantity"], rule["product_per"]) == (2, "unit")

    changed = admin.change(f"/earning-rules/{rule['id']}", {"multipliers": ["sku:SH1 = 4"]})
    assert changed.status_code == 200, changed.json()
    assert changed.json()["multipliers"] == ["sku:SH1 = 4"]
    assert changed.json()["include_categories"] == ["hair", "nails"]  # not sent: kept

    refused = admin.change(f"/earning-rules/{rule['id']}", {"multipliers": ["colour:red = 2"]})
    assert refused.status_code == 422 and "multipliers" in field_errors(refused.json()["errors"])

    MemberFactory(merchant=merchant, phone="+84903123456")
    draft = {"name": "10 per shampoo", "effect": "product", "bonus_points": 10, "include_skus": ["SH1"]}
    answer = admin.post(
        "/earning-rules/simulate",
        {
            "rule": draft,
            "phone": "0903123456",
            "store_code": store.code,
            "lines": [
                {"sku": "SH1", "name": "Shampoo", "quantity": 2, "unit_price": 100000, "category": "hair"},
                {"sku": "SHIP", "name": "Delivery", "quantity": 1, "unit_price": 20000},
            ],
        },
    )
    assert answer.status_code == 200, answer.json()
    by_sku = {line["sku"]: line for line in answer.json()["lines"]}
    assert any(part["name"] == "10 per shampoo" and part["points"] == 20 for part in by_sku["SH1"]["parts"])
    assert all(part["name"] != "10 per shampoo" for part in by_sku["SHIP"]["parts"])
