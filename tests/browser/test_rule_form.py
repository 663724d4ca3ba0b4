"""The earning-rule form in a real browser (E5, issue 14): at 1440 px it fits the page (no sideways
scroll), and an optional field left empty is not styled as a problem."""

from __future__ import annotations

import os

import pytest

from tests.factories import MerchantFactory, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.staff_user's
#: Where to save screenshots of the pages, to look at them (unset: none are taken).
SHOTS = os.environ.get("TESSERA_SCREENSHOTS_DIR", "")


def test_e5_the_rule_form_fits_1440_px_and_marks_no_empty_optional_field(browser, live_server):
    merchant = MerchantFactory(slug="rules-form", default_language="vi")
    staff_user(merchant, "merchant_admin", username="owner")
    # A browser clock in another zone than the merchant's: Django's admin would warn on every date.
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="vi-VN", timezone_id="Europe/Paris"
    )
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", "owner")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")

    page.goto(f"{live_server.url}/admin/rules/earningrule/add/")
    page.locator("#id_valid_from_0").wait_for()
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/rule_form_1440.png", full_page=True)
    widths = page.evaluate(
        "() => ({page: document.documentElement.scrollWidth, view: document.documentElement.clientWidth})"
    )
    assert widths["page"] <= widths["view"], widths
    # Nothing typed yet: no field shows a warning (the admin's clock note) or is invalid.
    flagged = page.evaluate(
        """() => [
            ...[...document.querySelectorAll('#earningrule_form .timezonewarning')]
                .filter(el => el.offsetParent !== null).map(el => 'warning'),
            ...[...document.querySelectorAll('#earningrule_form input, #earningrule_form select')]
                .filter(el => !el.required && !el.value && !el.checkValidity()).map(el => el.name),
        ]"""
    )
    assert flagged == []
    assert "Asia/Ho_Chi_Minh" in page.locator("#id_valid_from_helptext, .field-valid_from").first.inner_text()
    context.close()
