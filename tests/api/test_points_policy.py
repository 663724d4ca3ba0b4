"""The points policy in the management API (issue 17): read with an ETag, change with If-Match, refused
as the back office refuses, and the history names the key."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tessera.core.api_forms import field_errors
from tessera.points import services
from tessera.points.admin import PolicyForm
from tessera.points.models import Policy
from tests.factories import staff_user

pytestmark = pytest.mark.django_db


def test_an_admin_key_reads_and_changes_the_policy_and_history_names_the_key(admin, merchant) -> None:  # type: ignore[no-untyped-def]
    read = admin.get("/points-policy")
    assert read.status_code == 200 and read["ETag"]

    changed = admin.patch("/points-policy", {"earn_per_amount": 5000, "pending_days": 7}, etag=read["ETag"])

    assert changed.status_code == 200, changed.json()
    assert changed.json()["earn_per_amount"] == 5000 and changed["ETag"] != read["ETag"]
    policy = Policy.objects.get(merchant=merchant)
    assert (policy.earn_per_amount, policy.pending_days, policy.earn_points) == (5000, 7, Decimal(1))
    last = policy.history.latest()
    assert last.history_user is None
    assert last.history_change_reason == f"API key “Head office” (tsk_{admin.key.key.prefix})"


def test_without_if_match_428_with_a_stale_one_412(admin, merchant) -> None:  # type: ignore[no-untyped-def]
    stale = admin.get("/points-policy")["ETag"]
    assert admin.patch("/points-policy", {"pending_days": 3}).status_code == 428
    # A back-office user saves in between: the API client's tag is now stale.
    user = staff_user(merchant, "merchant_admin").user
    services.save_policy(merchant=merchant, actor=user, pending_days=9)

    refused = admin.patch("/points-policy", {"pending_days": 3}, etag=stale)

    assert refused.status_code == 412 and refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "precondition_failed"
    assert Policy.objects.get(merchant=merchant).pending_days == 9


def test_the_api_refuses_with_the_back_offices_messages(admin, merchant) -> None:  # type: ignore[no-untyped-def]
    change = {"expiry": "yearly_reset", "reset_month": 2, "reset_day": 30, "earn_per_amount": 0}
    form = PolicyForm(data={**PolicyForm(instance=Policy.for_merchant(merchant)).initial, **change})
    assert not form.is_valid()

    refused = admin.change("/points-policy", change)

    assert refused.status_code == 422
    body = refused.json()
    assert body["code"] == "invalid_points_policy"
    assert field_errors(body["errors"])["reset_day"] == form.errors["reset_day"]
    assert field_errors(body["errors"])["earn_per_amount"] == form.errors["earn_per_amount"]


def test_keys_without_the_admin_scope_are_refused(admin_read, till, integration) -> None:  # type: ignore[no-untyped-def]
    assert admin_read.get("/points-policy").status_code == 200
    for client in (admin_read, till, integration):
        refused = client.patch("/points-policy", {"pending_days": 1}, etag="*")
        assert refused.status_code == 403 and refused.json()["code"] == "insufficient_scope"
    for client in (till, integration):
        assert client.get("/points-policy").status_code == 403


def test_each_merchant_reads_its_own_policy(admin, stranger, merchant, other_merchant) -> None:  # type: ignore[no-untyped-def]
    services.save_policy(merchant=merchant, pending_days=4)
    assert stranger.change("/points-policy", {"pending_days": 11}).status_code == 200
    assert admin.get("/points-policy").json()["pending_days"] == 4
    assert Policy.objects.get(merchant=other_merchant).pending_days == 11
