"""The back office's "Add points" page in a real browser (E4, issue 14): suggestions for the member as
the name is typed, and the points from the earning rules shown before saving."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tessera.ledger.models import Account, AccountKind
from tessera.members import services as members
from tests.factories import MerchantFactory, StoreFactory, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.staff_user's


def test_e4_cashier_picks_the_member_by_name_and_sees_the_points_before_saving(page, live_server):
    merchant = MerchantFactory(name="Phở Hà Nội", slug="pho-points", default_language="vi")
    store = StoreFactory(merchant=merchant, name="Hoàn Kiếm")
    staff_user(merchant, "cashier", stores=[store], username="cashier-points")
    an = members.register_member(
        merchant=merchant, phone="0903123456", store=store, full_name="Nguyễn Văn An"
    )
    members.register_member(merchant=merchant, phone="0912345678", store=store, full_name="Trần Thị Bình")
    other = MerchantFactory(slug="other-points")
    members.register_member(merchant=other, phone="0903123457", full_name="Nguyễn Văn Anh")

    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", "cashier-points")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda address: "/login/" not in address)
    page.goto(live_server.url + reverse("admin:sales_add_points"))

    page.fill("#id_member", "nguyen van")
    suggestions = page.locator("#member-suggestions option")
    expect(suggestions).to_have_count(1)  # never the other merchant's Nguyễn Văn Anh
    assert suggestions.first.get_attribute("value") == "+84903123456"
    page.fill("#id_member", "+84903123456")  # as choosing the suggestion does
    expect(page.locator("#member-found")).to_contain_text("Nguyễn Văn An")
    page.select_option("#id_store", label="Hoàn Kiếm")
    page.fill("#id_amount_spent", "123.000")

    expect(page.locator("#points-preview")).to_have_text("= 12 điểm")
    assert not Account.objects.filter(member=an, kind=AccountKind.POINTS).exists()
    page.locator("#add-points-form button[type=submit]").first.click()
    page.wait_for_url("**/admin/sales/transaction/")
    assert Account.objects.get(member=an, kind=AccountKind.POINTS).balance == 12
