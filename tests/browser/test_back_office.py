"""The back office in a real browser: a merchant admin logs in, works in their language and finds a
member by typing the name without accents (C1, localised UI)."""

from __future__ import annotations

import pytest

from tessera.members import services as members
from tests.factories import MerchantFactory, StoreFactory, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.staff_user's


def _shop(language: str) -> str:
    merchant = MerchantFactory(name="Phở Hà Nội", slug=f"pho-{language}", default_language=language)
    store = StoreFactory(merchant=merchant, name="Hoàn Kiếm")
    staff_user(merchant, "merchant_admin", username=f"boss-{language}")
    for phone, name in [("0903123456", "Nguyễn Văn An"), ("0912345678", "Trần Thị Bình")]:
        members.register_member(merchant=merchant, phone=phone, store=store, full_name=name)
    return f"boss-{language}"


def _log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")


def test_vietnamese_merchant_admin_finds_nguyen_van_an_without_accents(page, live_server):
    username = _shop("vi")

    _log_in(page, live_server, username)

    assert page.locator("html").get_attribute("lang") == "vi"
    page.goto(f"{live_server.url}/admin/members/member/")
    assert "thành viên" in page.title()  # the model name from our catalogue, not only Django's
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    assert page.get_by_text("Nguyễn Văn An").count() >= 1

    page.fill("input[name=q]", "nguyen van an")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=nguyen*")

    assert rows.count() == 1
    assert "Nguyễn Văn An" in rows.first.inner_text()


def test_english_merchant_admin_sees_the_back_office_in_english(page, live_server):
    username = _shop("en")

    _log_in(page, live_server, username)

    assert page.locator("html").get_attribute("lang") == "en"
    page.goto(f"{live_server.url}/admin/members/member/")
    assert "Select member to change" in page.title()
    assert page.locator("#result_list tbody tr").count() == 2
    assert page.get_by_text("Nguyễn Văn An").count() >= 1


def test_chinese_merchant_admin_sees_the_member_list_in_chinese(page, live_server):
    username = _shop("zh-hans")

    _log_in(page, live_server, username)

    assert page.locator("html").get_attribute("lang") == "zh-hans"
    page.goto(f"{live_server.url}/admin/members/member/")
    assert "会员" in page.title()
    assert page.locator("#result_list tbody tr").count() == 2
