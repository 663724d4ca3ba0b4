"""The campaign form in a real browser (I1, I2, issue 14): a template created from the "+" beside the
drop-down, in Django's popup, comes back selected; "Preview" shows a member's message, its SMS parts
and cost before anything is saved (under the CSP: no inline script is needed)."""

from __future__ import annotations

import os

import pytest

from tessera.marketing import services as marketing
from tessera.members import services as members
from tessera.members.services import save_segment
from tests.factories import MerchantFactory, StoreFactory, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.staff_user's
#: Where to save screenshots of the pages, to look at them (unset: none are taken).
SHOTS = os.environ.get("TESSERA_SCREENSHOTS_DIR", "")


def test_a_marketer_creates_a_template_in_the_popup_and_previews_the_campaign(page, live_server):
    merchant = MerchantFactory(name="Phở Hà Nội", slug="pho-preview", default_language="en")
    store = StoreFactory(merchant=merchant)
    members.register_member(
        merchant=merchant, phone="0903123456", store=store, full_name="An", marketing_sms=True
    )
    save_segment(merchant=merchant, name="Everyone", filters={})
    row = marketing.settings_for(merchant)
    row.sms_part_price = 750
    row.save()
    staff_user(merchant, "marketing", username="marketer")
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", "marketer")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")

    page.goto(f"{live_server.url}/admin/marketing/campaign/add/")
    with page.expect_popup() as opened:
        page.get_by_role("link", name="Create a message template").click()
    popup = opened.value
    popup.fill("input[name=name]", "Spring sale")
    popup.select_option("select[name=channel]", "sms")
    popup.fill("textarea[name=body_en]", "Hi {{ name }}, use {{ code }}")
    popup.click("button[name=_save]")
    popup.wait_for_event("close")
    assert page.locator("select[name=template] option:checked").inner_text() == "Spring sale"

    page.fill("input[name=name]", "Spring")
    page.fill("input[name=code]", "XUAN20")
    page.check("input[name=audience][value=segment]")
    page.select_option("select[name=segment]", label="Everyone")
    page.get_by_test_id("preview-button").click()
    preview = page.get_by_test_id("campaign-preview")
    preview.get_by_text("Hi An, use XUAN20").wait_for()
    assert "GSM-7: 17 characters, 1 SMS part(s) of up to 160." in preview.inner_text()
    assert "About 1 SMS part, an estimated ₫750." in preview.inner_text()
    assert page.locator("input[name=name]").input_value() == "Spring"  # nothing lost, nothing saved
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/campaign_preview.png", full_page=True)
