"""The merchant's stores in the management API (issue 17): through the back office's StoreForm and the
tenancy services, with If-Match; archived (deactivated), never deleted."""

from __future__ import annotations

import pytest

from tessera.core.api_forms import field_errors
from tessera.tenancy.models import Store

pytestmark = pytest.mark.django_db


def test_an_admin_key_opens_changes_and_archives_a_store(admin, merchant, store) -> None:  # type: ignore[no-untyped-def]
    created = admin.post("/stores", {"code": "hcm-1", "name": "Sài Gòn 1", "time_zone": "Asia/Ho_Chi_Minh"})
    assert created.status_code == 201, created.json()
    path = f"/stores/{created.json()['id']}"

    assert admin.change(path, {"address": "1 Lê Lợi"}).json()["address"] == "1 Lê Lợi"
    assert admin.post(path + "/archive").json()["is_active"] is False
    assert [s["code"] for s in admin.get("/stores").json()["items"]] == ["hanoi-1", "hcm-1"]

    saved = Store.objects.get(pk=created.json()["id"])
    assert (saved.address, saved.is_active) == ("1 Lê Lợi", False)
    assert (
        saved.history.latest().history_change_reason == f"API key “Head office” (tsk_{admin.key.key.prefix})"
    )


def test_a_store_is_refused_as_the_back_office_refuses_it(admin, store) -> None:  # type: ignore[no-untyped-def]
    taken = admin.post("/stores", {"code": store.code, "name": "Again"})
    assert taken.status_code == 422 and taken.json()["code"] == "invalid_store"
    bad = admin.post("/stores", {"code": "not a slug", "name": "x", "time_zone": "Mars/Olympus"})
    assert bad.status_code == 422 and set(field_errors(bad.json()["errors"])) == {"code", "time_zone"}


def test_if_match_scopes_and_another_merchants_ids(admin, admin_read, till, stranger, store) -> None:  # type: ignore[no-untyped-def]
    path = f"/stores/{store.pk}"
    read = admin.get(path)["ETag"]
    assert admin.patch(path, {"name": "x"}).status_code == 428
    admin.change(path, {"name": "Hà Nội Một"})
    assert admin.patch(path, {"name": "x"}, etag=read).status_code == 412

    assert admin_read.get(path).status_code == 200
    for client in (admin_read, till):
        assert client.patch(path, {"name": "x"}, etag="*").status_code == 403
        assert client.post("/stores", {"code": "x", "name": "x"}).status_code == 403
    for answer in (
        stranger.get(path),
        stranger.patch(path, {"name": "x"}, etag="*"),
        stranger.post(path + "/archive"),
    ):
        assert answer.status_code == 404 and answer.json()["code"] == "store_not_found"
