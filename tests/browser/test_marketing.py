"""Messaging in a real browser (I1, I4): a marketing user writes an SMS template, sees its preview and
part count, launches a small campaign to a segment and reads each recipient's status."""

from __future__ import annotations

import json

import pytest

from tessera.members import services as members
from tessera.members.services import save_segment
from tests.factories import MerchantFactory, StoreFactory, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.staff_user's


def test_a_marketer_previews_a_template_and_launches_a_campaign_to_a_segment(
    page, live_server, settings, tmp_path
):
    settings.SMS_BACKEND, settings.VAR_DIR = "file", tmp_path
    merchant = MerchantFactory(name="Phở Hà Nội", slug="pho-mkt", default_language="en")
    store = StoreFactory(merchant=merchant)
    for phone, name, consent in [
        ("0903123456", "Nguyễn Văn An", True),
        ("0912345678", "Trần Thị Bình", True),
        ("0987654321", "Lê Văn Cường", False),
    ]:
        members.register_member(
            merchant=merchant, phone=phone, store=store, full_name=name, marketing_sms=consent
        )
    save_segment(merchant=merchant, name="Everyone", filters={})
    staff_user(merchant, "marketing", username="marketer")

    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", "marketer")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")

    # A template, saved and previewed with sample values and its SMS part count.
    page.goto(f"{live_server.url}/admin/marketing/messagetemplate/add/")
    page.fill("input[name=name]", "Spring sale")
    page.select_option("select[name=channel]", "sms")
    page.check("input[name=strip_diacritics]")
    page.fill("textarea[name=body_vi]", "Chào {{ name }}! Giảm 20% với mã {{ code }}.")
    page.click("button[name=_continue]")
    preview = page.get_by_test_id("preview")
    preview.wait_for()
    assert "Chao Nguyen Thi Minh Khai! Giam 20% voi ma TET2026." in preview.inner_text()
    assert "GSM-7: 51 characters, 1 SMS part(s) of up to 160." in preview.inner_text()

    # A campaign to the segment, launched from its page.
    page.goto(f"{live_server.url}/admin/marketing/campaign/add/")
    page.fill("input[name=name]", "Spring")
    page.select_option("select[name=template]", label="Spring sale")
    page.fill("input[name=code]", "XUAN20")
    page.check("input[name=audience][value=segment]")
    page.select_option("select[name=segment]", label="Everyone")
    page.click("button[name=_continue]")
    page.get_by_text("3 members, 2 of whom accept marketing on this channel").wait_for()
    page.get_by_role("link", name="Launch").click()
    page.get_by_test_id("confirm").click()
    page.get_by_text("Campaign “Spring” launched.").wait_for()

    # Each recipient's status.
    page.get_by_role("link", name="Recipients").click()
    rows = page.locator("#result_list tbody tr")
    rows.first.wait_for()
    statuses = {row.locator("td, th").nth(3).inner_text().strip(): row.inner_text() for row in rows.all()}
    assert len(statuses) == 3
    texts = {r: ("Sent" in t, "Skipped: no consent" in t) for r, t in statuses.items()}
    assert sorted(texts.values()) == [(False, True), (True, False), (True, False)]
    sms = [json.loads(line) for line in (tmp_path / "sms.log").read_text(encoding="utf-8").splitlines()]
    assert sorted(m["phone"] for m in sms) == ["+84903123456", "+84912345678"]
    assert "Giam 20% voi ma XUAN20." in sms[0]["text"]
