"""C3 (issue 15 §7): a replaced account's 360 page has a button writing the voucher that moves its points
and tier to the current account, for users who may write vouchers; a double click writes one voucher."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from tests.factories import MemberFactory, StoreFactory, staff_user

from tessera.adjustments.models import AdjustmentLine, AdjustmentVoucher, VoucherStatus
from tessera.members.services import change_phone
from tessera.sales import services as sales
from tessera.sales.models import SalesSettings

pytestmark = pytest.mark.django_db


@pytest.fixture
def moved(merchant):
    SalesSettings.for_merchant(merchant)
    store = StoreFactory(merchant=merchant)
    old = MemberFactory(merchant=merchant, phone="+84980000000")
    sales.add_points(member=old, store=store, actor=None, points=700)
    new = change_phone(member=old, new_phone="0980000001")
    old.refresh_from_db()
    return old, new


def _client(merchant, role: str) -> Client:
    client = Client()
    client.force_login(staff_user(merchant, role).user)
    return client


def _page(client, member):
    return client.get(reverse("backoffice:member_360", args=[member.pk]))


def test_c3_the_button_writes_the_voucher_and_opens_it(merchant, moved):
    old, new = moved
    client = _client(merchant, "store_manager")
    page = _page(client, old)
    assert 'id="phone-move"' in page.content.decode()
    token = page.context["phone_move_token"]
    url = reverse("backoffice:member_phone_move", args=[old.pk])

    first = client.post(url, {"form_token": token})
    again = client.post(url, {"form_token": token})  # a double click

    voucher = AdjustmentVoucher.objects.get()
    assert voucher.status == VoucherStatus.PENDING
    assert first.status_code == 302
    assert first["Location"] == reverse("admin:adjustments_adjustmentvoucher_change", args=[voucher.pk])
    assert again["Location"] == first["Location"]
    lines = {(line.member_id, line.points) for line in AdjustmentLine.objects.filter(voucher=voucher)}
    assert lines == {(old.pk, -700), (new.pk, 700)}


def test_c3_no_button_on_a_current_account_or_without_the_permission(merchant, moved):
    old, new = moved

    current = _page(_client(merchant, "store_manager"), new)
    cashier = _client(merchant, "cashier")
    no_perm = _page(cashier, old)
    posted = cashier.post(reverse("backoffice:member_phone_move", args=[old.pk]), {"form_token": "x" * 32})

    assert 'id="phone-move"' not in current.content.decode()
    assert 'id="phone-move"' not in no_perm.content.decode()
    assert posted.status_code == 403
    assert not AdjustmentVoucher.objects.exists()


def test_c3_a_current_account_is_refused_with_a_message(merchant, moved):
    _old, new = moved
    client = _client(merchant, "store_manager")
    token = _page(client, new).context["phone_move_token"] or "a" * 32

    response = client.post(
        reverse("backoffice:member_phone_move", args=[new.pk]), {"form_token": token}, follow=True
    )

    assert not AdjustmentVoucher.objects.exists()
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    assert response.redirect_chain[-1][0] == reverse("backoffice:member_360", args=[new.pk])


def test_a1_another_merchants_member_is_not_found(merchant, other_merchant, moved):
    old, _new = moved

    response = _client(other_merchant, "merchant_admin").post(
        reverse("backoffice:member_phone_move", args=[old.pk]), {"form_token": "b" * 32}
    )

    assert response.status_code == 404
    assert not AdjustmentVoucher.objects.exists()
