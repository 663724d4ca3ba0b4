"""Gifts and their stock in the management API (issue 17): through the back office's GiftForm and
save_gift, with If-Match; stock added without reading first; archived, never deleted."""

from __future__ import annotations

import pytest

from tessera.core.api_forms import field_errors
from tessera.rewards.models import Gift

pytestmark = pytest.mark.django_db

PHO = {"name": "Free phở", "points_cost": 500, "stock_change": 10, "per_member_limit": 2}


def test_an_admin_key_creates_changes_stocks_and_archives_a_gift(admin, merchant) -> None:  # type: ignore[no-untyped-def]
    created = admin.post("/gifts", PHO)
    assert created.status_code == 201, created.json()
    gift = created.json()
    assert (gift["stock"], gift["points_cost"], gift["is_active"]) == (10, 500, True)
    path = f"/gifts/{gift['id']}"

    assert admin.change(path, {"points_cost": 450}).json()["points_cost"] == 450
    assert admin.post(path + "/stock", {"stock_change": -4}).json()["stock"] == 6
    refused = admin.post(path + "/stock", {"stock_change": -7})
    assert refused.status_code == 422 and field_errors(refused.json()["errors"]) == {
        "stock_change": ["The stock cannot go below zero."]
    }
    assert admin.post(path + "/archive").json()["is_active"] is False
    assert admin.get("/gifts").json()["count"] == 1

    saved = Gift.objects.get(pk=gift["id"])
    assert (saved.stock, saved.points_cost, saved.is_active) == (6, 450, False)
    assert (
        saved.history.latest().history_change_reason == f"API key “Head office” (tsk_{admin.key.key.prefix})"
    )


def test_if_match_and_scopes_and_another_merchants_ids(admin, admin_read, till, stranger) -> None:  # type: ignore[no-untyped-def]
    gift = admin.post("/gifts", PHO).json()
    path = f"/gifts/{gift['id']}"
    read = admin.get(path)["ETag"]
    assert admin.patch(path, {"name": "Phở"}).status_code == 428
    admin.post(path + "/stock", {"stock_change": 1})
    assert admin.patch(path, {"name": "Phở"}, etag=read).status_code == 412
    assert admin.post("/gifts", {"name": "Nothing", "points_cost": 0}).json()["code"] == "invalid_gift"

    assert admin_read.get(path).status_code == 200
    for client in (admin_read, till):
        assert client.patch(path, {"name": "x"}, etag="*").status_code == 403
        assert client.post(path + "/stock", {"stock_change": 1}).status_code == 403
    for answer in (
        stranger.get(path),
        stranger.patch(path, {"name": "x"}, etag="*"),
        stranger.post(path + "/stock", {"stock_change": 1}),
        stranger.post(path + "/archive"),
    ):
        assert answer.status_code == 404 and answer.json()["code"] == "gift_not_found"
