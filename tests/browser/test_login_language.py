"""The login page in the language a cashier reads (issue 14): an English browser gets English, the
switch under the form turns the page Vietnamese, then Chinese, and signing in keeps the choice."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import MerchantFactory, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.staff_user's


def test_the_login_page_switches_language_and_keeps_it_after_signing_in(page, live_server):
    merchant = MerchantFactory(name="Phở Hà Nội", slug="pho-login", default_language="vi")
    staff = staff_user(merchant, "merchant_admin", username="login-switch")

    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    assert page.locator("html").get_attribute("lang") == "en"  # the browser's language
    expect(page.locator("#login-form button[type=submit]")).to_contain_text("Log in")

    page.locator("#login-languages button[lang=vi]").click()
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.locator("#login-form button[type=submit]")).to_contain_text("Đăng nhập")

    page.locator("#login-languages button[lang=zh-hans]").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("#login-languages button[aria-current=true]")).to_have_attribute("lang", "zh-hans")

    page.fill("input[name=username]", staff.user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/**")
    # The choice outlives the login: the merchant's default (Vietnamese) does not take over.
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
