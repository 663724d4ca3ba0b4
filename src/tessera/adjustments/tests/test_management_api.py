"""Issue 17: adjustment vouchers through the management API — the back office's form (same messages)
and services (points then tier, all or nothing, four-eyes), history naming the key, `admin` scope only,
another merchant's ids 404."""

from __future__ import annotations

import pytest
from tests.factories import MemberFactory, StoreFactory
from tests.management_api import KeyClient

from tessera.adjustments.models import AdjustmentSettings, AdjustmentVoucher, VoucherStatus
from tessera.adjustments.tests.test_vouchers import balance, give
from tessera.tenancy.history import key_label
from tessera.tenancy.models import Scope

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(merchant):
    return KeyClient(merchant)


def test_a_voucher_is_created_pending_then_applied_by_the_key_F2(admin, merchant):
    an = MemberFactory(merchant=merchant, phone="+84903123456")

    created = admin.post(
        "/adjustment-vouchers",
        {"phones": ["0903 123 456"], "points": 500, "reason": "Apology", "code": "DC-1", "tags": "a, b"},
    )

    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["code"], body["status"], body["tags"]) == ("DC-1", "pending", ["a", "b"])
    assert [(line["member_id"], line["points"]) for line in body["lines"]] == [(an.pk, 500)]
    assert balance(an) == 0
    applied = admin.post(f"/adjustment-vouchers/{body['id']}/apply")
    assert applied.status_code == 200 and applied.json()["status"] == "applied"
    assert applied.json()["lines"][0]["entry_id"] is not None
    assert balance(an) == 500
    again = admin.post(f"/adjustment-vouchers/{body['id']}/apply")
    assert (again.status_code, again.json()["code"]) == (409, "not_pending")
    voucher = AdjustmentVoucher.objects.get(pk=body["id"])
    assert {h.history_change_reason for h in voucher.history.all()} == {key_label(admin.key)}
    listed = admin.get("/adjustment-vouchers?status=applied").json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == voucher.pk


def test_the_back_offices_messages_for_unknown_phones_and_empty_changes(admin, merchant):
    response = admin.post("/adjustment-vouchers", {"phones": ["0909 000 000"], "points": 0})

    assert response.status_code == 422
    errors = {e["loc"][1]: e["msg"] for e in response.json()["errors"]}
    assert errors == {
        "phones": "No member has these phones: 0909 000 000",
        "points": "Give points to add or take, or a tier.",
    }
    assert not AdjustmentVoucher.objects.exists()


def test_all_or_nothing_a_member_lacking_points_stops_the_voucher(admin, merchant):
    an = MemberFactory(merchant=merchant, phone="+84903123456")
    give(an, 10)
    voucher = admin.post("/adjustment-vouchers", {"phones": ["0903123456"], "points": -50}).json()

    response = admin.post(f"/adjustment-vouchers/{voucher['id']}/apply")

    assert (response.status_code, response.json()["code"]) == (409, "insufficient_balance")
    assert balance(an) == 10
    assert AdjustmentVoucher.objects.get().status == VoucherStatus.PENDING


def test_under_four_eyes_a_key_made_by_no_person_creates_but_never_applies(admin, merchant):
    AdjustmentSettings.objects.create(merchant=merchant, four_eyes=True)
    an = MemberFactory(merchant=merchant, phone="+84903123456")
    voucher = admin.post("/adjustment-vouchers", {"phones": ["0903123456"], "points": 5}).json()

    response = admin.post(f"/adjustment-vouchers/{voucher['id']}/apply")

    assert (response.status_code, response.json()["code"]) == (403, "key_without_person")
    assert balance(an) == 0


def test_a_voucher_is_cancelled(admin, merchant):
    MemberFactory(merchant=merchant, phone="+84903123456")
    voucher = admin.post("/adjustment-vouchers", {"phones": ["0903123456"], "points": 5}).json()

    cancelled = admin.post(f"/adjustment-vouchers/{voucher['id']}/cancel")

    assert cancelled.json()["status"] == "cancelled"
    assert admin.post(f"/adjustment-vouchers/{voucher['id']}/apply").status_code == 409


def test_other_merchants_get_404_and_keys_without_admin_get_403(merchant, other_merchant):
    store = StoreFactory(merchant=merchant)
    an = MemberFactory(merchant=merchant, phone="+84903123456")
    owner = KeyClient(merchant)
    voucher = owner.post("/adjustment-vouchers", {"phones": ["0903123456"], "points": 5}).json()
    paths = [
        ("get", f"/adjustment-vouchers/{voucher['id']}"),
        ("post", f"/adjustment-vouchers/{voucher['id']}/apply"),
        ("post", f"/adjustment-vouchers/{voucher['id']}/cancel"),
    ]

    for method, path in paths:
        assert getattr(KeyClient(other_merchant), method)(path).status_code == 404, path
        for scope, store_of in ((Scope.POS, store), (Scope.INTEGRATION, None)):
            response = getattr(KeyClient(merchant, scope, store=store_of), method)(path)
            assert response.json()["code"] == "insufficient_scope", path
        read = getattr(KeyClient(merchant, Scope.ADMIN_READ), method)(path)
        assert read.status_code == (200 if method == "get" else 403), path
    till = KeyClient(merchant, Scope.POS, store=store)
    assert till.post("/adjustment-vouchers", {"phones": ["0903123456"], "points": 5}).status_code == 403
    assert balance(an) == 0 and AdjustmentVoucher.objects.get().status == VoucherStatus.PENDING
