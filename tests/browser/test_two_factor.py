"""Staff two-factor login in a real browser (B4, issue 12): a Chinese merchant requires it of its admins;
the admin sets it up from the key the page shows (as an authenticator app would), keeps the recovery
codes, and the next login asks for a code."""

from __future__ import annotations

from base64 import b32decode

import pytest
from django_otp.oath import totp

from tessera.tenancy import services
from tests.factories import MerchantFactory, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.staff_user's


def _log_in(page, live_server) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", "laoban")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")


def test_b4_chinese_admin_sets_up_two_factor_login_and_logs_in_with_a_code(page, live_server):
    merchant = MerchantFactory(name="茶馆", slug="chaguan", default_language="zh-hans", currency="CNY")
    services.update_merchant(merchant=merchant, require_two_factor_for_admins=True)
    staff_user(merchant, "merchant_admin", username="laoban")

    _log_in(page, live_server)

    # Required and not set up: the set-up page, and nothing else.
    page.wait_for_url("**/admin/tessera/two-factor/?next=*")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.locator("#two-factor-required").is_visible()
    page.click("#two-factor-start button[type=submit]")
    assert page.locator("#two-factor-qr path").count() == 1
    key = b32decode(page.inner_text("#two-factor-secret").replace(" ", ""))
    page.fill("#two-factor-confirm input[name=code]", f"{totp(key):06d}")
    page.click("#two-factor-confirm button[type=submit]")

    codes = page.locator("#recovery-codes li")
    codes.first.wait_for()
    assert codes.count() == 10
    page.click("#two-factor-codes a")
    page.wait_for_url(f"{live_server.url}/admin/")

    page.context.clear_cookies()  # a new day, a new session
    _log_in(page, live_server)
    page.wait_for_url("**/admin/tessera/two-factor/verify/?next=*")
    page.fill("input[name=code]", "000000")
    page.click("#two-factor-form button[type=submit]")
    errors = page.locator("#two-factor-form .errors")
    errors.first.wait_for()  # the answer is a new page: wait for it, do not count the old one
    assert errors.count() == 1
    page.wait_for_timeout(1100)  # a wrong code makes the next try wait one second
    page.fill("input[name=code]", f"{totp(key, drift=1):06d}")  # this step's code was spent
    page.click("#two-factor-form button[type=submit]")

    page.wait_for_url(f"{live_server.url}/admin/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
