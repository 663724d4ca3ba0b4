"""The tier program and its tiers in the management API (issue 17): through the back office's forms and
services, with If-Match, and the history names the key."""

from __future__ import annotations

import pytest

from tessera.core.api_forms import field_errors
from tessera.tiers import services
from tessera.tiers.models import Tier, TierProgram
from tests.factories import staff_user

pytestmark = pytest.mark.django_db

SILVER = {"code": "silver", "name": "Silver", "rank": 1, "threshold": 1000000}
GOLD = {"code": "gold", "name": "Gold", "rank": 2, "threshold": 5000000, "discount_percent": "5"}


def test_an_admin_key_builds_the_program_and_its_tiers(admin, merchant) -> None:  # type: ignore[no-untyped-def]
    assert admin.get("/tier-program").json()["code"] == "tier_program_not_found"
    created = admin.post("/tier-program", {"basis": "spend", "window_months": 6})
    assert created.status_code == 201, created.json()
    assert admin.post("/tier-program", {}).json()["code"] == "program_exists"
    for body in (SILVER, GOLD):
        assert admin.post("/tier-program/tiers", body).status_code == 201

    tiers = admin.get("/tier-program/tiers").json()
    assert [t["code"] for t in tiers["items"]] == ["silver", "gold"] and tiers["count"] == 2
    gold = tiers["items"][1]
    changed = admin.change(f"/tier-program/tiers/{gold['id']}", {"discount_percent": "7.5"})
    assert changed.status_code == 200 and changed.json()["discount_percent"] == "7.50"
    paused = admin.change("/tier-program", {"is_active": False})
    assert paused.status_code == 200 and paused.json()["window_months"] == 6

    program = TierProgram.objects.get(merchant=merchant)
    assert program.is_active is False
    label = f"API key “Head office” (tsk_{admin.key.key.prefix})"
    assert program.history.latest().history_change_reason == label
    assert Tier.objects.get(pk=gold["id"]).history.latest().history_change_reason == label


def test_a_tier_is_refused_as_the_back_office_refuses_it(admin, merchant) -> None:  # type: ignore[no-untyped-def]
    admin.post("/tier-program/tiers", GOLD)

    refused = admin.post("/tier-program/tiers", {**SILVER, "discount_percent": "101"})

    assert refused.status_code == 422 and refused.json()["code"] == "invalid_tier"
    assert field_errors(refused.json()["errors"]) == {
        "discount_percent": ["Ensure this value is less than or equal to 100."]
    }
    again = admin.post("/tier-program/tiers", {**SILVER, "threshold": 9000000})
    assert field_errors(again.json()["errors"]) == {
        None: ["A higher tier needs a higher threshold than “Gold” (5000000)."]
    }


def test_if_match_and_a_back_office_edit_in_between(admin, merchant) -> None:  # type: ignore[no-untyped-def]
    tier = admin.post("/tier-program/tiers", GOLD).json()
    path = f"/tier-program/tiers/{tier['id']}"
    read = admin.get(path)["ETag"]
    assert admin.patch(path, {"name": "Vàng"}).status_code == 428
    edited = Tier.objects.get(pk=tier["id"])
    edited.name = "Gold+"
    services.save_tier(tier=edited, actor=staff_user(merchant, "merchant_admin").user)

    assert admin.patch(path, {"name": "Vàng"}, etag=read).status_code == 412
    assert Tier.objects.get(pk=tier["id"]).name == "Gold+"


def test_scopes_and_another_merchants_ids(admin, admin_read, till, stranger) -> None:  # type: ignore[no-untyped-def]
    admin.post("/tier-program", {})
    tier = admin.post("/tier-program/tiers", GOLD).json()
    path = f"/tier-program/tiers/{tier['id']}"
    assert admin_read.get(path).status_code == 200
    for client in (admin_read, till):
        assert client.patch(path, {"name": "x"}, etag="*").status_code == 403
        assert client.patch("/tier-program", {"hold_months": 1}, etag="*").status_code == 403
        assert client.post("/tier-program/tiers", SILVER).status_code == 403
    for answer in (stranger.get(path), stranger.patch(path, {"name": "x"}, etag="*")):
        assert answer.status_code == 404 and answer.json()["code"] == "tier_not_found"
    assert stranger.get("/tier-program").status_code == 404
    assert stranger.get("/tier-program/tiers").json()["count"] == 0
