"""The sales settings and the stores' own confirmation rules in the management API (issue 17, issue 15
§7): through the back office's forms and the sales services, with If-Match; a threshold set by API
decides at the till which sales need the member's PIN."""

from __future__ import annotations

import pytest

from tessera.core.api_forms import field_errors
from tessera.sales.admin import SalesSettingsForm, StoreConfirmationForm
from tessera.sales.models import SalesSettings, StoreConfirmation
from tessera.sales.services import save_sales_settings
from tests.factories import MemberFactory, StoreFactory, staff_user

pytestmark = pytest.mark.django_db

PIN_ABOVE_500K = {
    "confirm_with_pin": True,
    "confirm_with_otp": False,
    "confirm_with_staff": False,
    "verify_from_amount": 500000,
}
STAFF_ONLY = {"confirm_with_pin": False, "confirm_with_otp": False, "confirm_with_staff": True}


def _sale_methods(till, amount: int) -> list[str]:  # type: ignore[no-untyped-def]
    lines = [{"name": "Serum", "quantity": 1, "unit_price": amount}]
    sale = till.post("/transactions", {"phone": "0903123456", "lines": lines})
    assert sale.status_code == 201, sale.json()
    return sale.json()["confirm_methods"]  # type: ignore[no-any-return]


def test_a_threshold_set_by_api_makes_a_sale_over_it_need_the_pin(admin, till, merchant) -> None:  # type: ignore[no-untyped-def]
    """Issue 15 §7's example: the PIN only above 500,000 đồng."""
    MemberFactory(merchant=merchant, phone="+84903123456")

    changed = admin.change("/sales-settings", PIN_ABOVE_500K)

    assert changed.status_code == 200, changed.json()
    assert changed.json()["verify_from_amount"] == 500000
    assert _sale_methods(till, 650000) == ["pin"]
    assert _sale_methods(till, 350000) == ["pin", "none"]
    settings = SalesSettings.objects.get(merchant=merchant)
    assert (settings.confirm_with_otp, settings.verify_from_amount) == (False, 500000)
    assert (
        settings.history.latest().history_change_reason
        == f"API key “Head office” (tsk_{admin.key.key.prefix})"
    )


def test_the_sales_settings_need_if_match_and_refuse_as_the_page(admin, merchant) -> None:  # type: ignore[no-untyped-def]
    stale = admin.get("/sales-settings")["ETag"]
    assert admin.patch("/sales-settings", {"cashiers_may_refund": True}).status_code == 428
    user = staff_user(merchant, "merchant_admin").user
    settings = SalesSettings.for_merchant(merchant)
    settings.confirm_attempt_limit = 3
    save_sales_settings(settings=settings, actor=user)
    refused = admin.patch("/sales-settings", {"cashiers_may_refund": True}, etag=stale)
    assert refused.status_code == 412 and refused.json()["code"] == "precondition_failed"

    change = {"confirm_attempt_limit": 0, "verify_from_amount": -1}
    form = SalesSettingsForm(
        data={**SalesSettingsForm(instance=settings).initial, **change}, instance=settings
    )
    assert not form.is_valid()
    refused = admin.change("/sales-settings", change)
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_sales_settings"
    errors = field_errors(refused.json()["errors"])
    assert errors["confirm_attempt_limit"] == form.errors["confirm_attempt_limit"]
    assert errors["verify_from_amount"] == form.errors["verify_from_amount"]
    assert SalesSettings.objects.get(merchant=merchant).confirm_attempt_limit == 3


def test_a_store_given_its_own_rules_by_api_confirms_by_them(admin, till, merchant, store) -> None:  # type: ignore[no-untyped-def]
    """The airport kiosk of issue 15 §7: a second staff member for every sale, whatever the settings."""
    MemberFactory(merchant=merchant, phone="+84903123456")
    admin.change("/sales-settings", PIN_ABOVE_500K)

    created = admin.post("/store-confirmations", {"store_id": store.pk, **STAFF_ONLY})

    assert created.status_code == 201, created.json()
    rules = created.json()
    assert (rules["store_code"], rules["confirm_with_staff"], rules["verify_from_amount"]) == (
        "hanoi-1",
        True,
        None,
    )
    assert _sale_methods(till, 100000) == ["staff"]
    path = f"/store-confirmations/{rules['id']}"
    assert admin.change(path, {"verify_from_amount": 200000}).json()["verify_from_amount"] == 200000
    assert _sale_methods(till, 100000) == ["staff", "none"]
    assert admin.get("/store-confirmations").json()["count"] == 1

    deleted = admin.call("delete", path)

    assert deleted.status_code == 204
    assert not StoreConfirmation.objects.exists()
    assert _sale_methods(till, 650000) == ["pin"]  # the sales settings again
    assert admin.get(path).status_code == 404
    last = StoreConfirmation.history.filter(id=rules["id"]).latest()
    assert (last.history_type, last.history_change_reason) == (
        "-",
        f"API key “Head office” (tsk_{admin.key.key.prefix})",
    )


def test_a_store_has_one_set_of_rules_and_only_the_merchants_stores(
    admin, merchant, store, other_merchant
) -> None:  # type: ignore[no-untyped-def]
    admin.post("/store-confirmations", {"store_id": store.pk, **STAFF_ONLY})
    form_class = type("F", (StoreConfirmationForm,), {"merchant_id": merchant.pk})
    form = form_class(data={"store": store.pk, **STAFF_ONLY})
    assert not form.is_valid()

    again = admin.post("/store-confirmations", {"store_id": store.pk, **STAFF_ONLY})

    assert again.status_code == 422 and again.json()["code"] == "invalid_store_confirmation"
    assert field_errors(again.json()["errors"]) == {
        key: list(messages) for key, messages in form.errors.items()
    }
    elsewhere = StoreFactory(merchant=other_merchant, code="b1")
    theirs = admin.post("/store-confirmations", {"store_id": elsewhere.pk, **STAFF_ONLY})
    assert theirs.status_code == 422 and "store" in field_errors(theirs.json()["errors"])
    assert StoreConfirmation.objects.count() == 1


def test_if_match_scopes_and_another_merchants_ids(
    admin, admin_read, till, integration, stranger, store
) -> None:  # type: ignore[no-untyped-def]
    rules = admin.post("/store-confirmations", {"store_id": store.pk, **STAFF_ONLY}).json()
    path = f"/store-confirmations/{rules['id']}"
    read = admin.get(path)["ETag"]
    assert admin.patch(path, {"confirm_with_pin": True}).status_code == 428
    admin.change(path, {"verify_from_points": 100})
    assert admin.patch(path, {"confirm_with_pin": True}, etag=read).status_code == 412

    assert admin_read.get(path).status_code == 200
    assert admin_read.get("/sales-settings").status_code == 200
    for client in (admin_read, till, integration):
        assert client.patch(path, {"confirm_with_pin": True}, etag="*").status_code == 403
        assert client.patch("/sales-settings", {"cashiers_may_refund": True}, etag="*").status_code == 403
        assert client.call("delete", path).status_code == 403
    assert till.get("/sales-settings").status_code == 403
    for answer in (
        stranger.get(path),
        stranger.patch(path, {"confirm_with_pin": True}, etag="*"),
        stranger.call("delete", path),
    ):
        assert answer.status_code == 404 and answer.json()["code"] == "store_confirmation_not_found"
    assert stranger.get("/store-confirmations").json()["count"] == 0
    assert stranger.change("/sales-settings", {"cashiers_may_refund": True}).status_code == 200
    assert admin.get("/sales-settings").json()["cashiers_may_refund"] is False
