"""Issue 14: the dashboard's period presets and custom From–To, the member list's link to the 360 page,
and the reports' one export menu, in a browser under the pages' Content-Security-Policy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tessera.backoffice.tests.shop import confirmed_sale, shop
from tessera.reports.tests.world import world
from tests.factories import MerchantFactory, staff_user

from .test_csp import log_in, violations, wait_for_chart  # noqa: F401 (violations is a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

#: Where to keep the pages' pictures for a look by eye (unset: none kept).
SHOTS = os.environ.get("TESSERA_SHOTS")


def _shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def test_the_dashboard_switches_period_and_the_list_opens_the_360_page(page, live_server, violations):  # noqa: F811
    merchant = MerchantFactory(name="Phở Hà Nội", slug="dash-period", default_language="en")
    s = shop(merchant)
    confirmed_sale(member=s.member, store=s.store_a, amount=250_000)
    staff_user(merchant, "merchant_admin", username="dash-boss")

    log_in(page, live_server, "dash-boss")
    wait_for_chart(page, ".bo-chart canvas")
    expect(page.locator("a[data-preset='7d']")).to_have_attribute("aria-current", "true")
    expect(page.locator("#chg-sales-amount")).to_contain_text("+")
    _shot(page, "dashboard-7d")

    page.click("a[data-preset='month']")
    page.wait_for_url("**period=month")
    expect(page.locator("a[data-preset='month']")).to_have_attribute("aria-current", "true")

    page.fill("#id_start", "2026-01-01")
    page.fill("#id_end", "2026-01-31")
    page.click("#custom-period button[type=submit]")
    page.wait_for_url("**start=2026-01-01*")
    expect(page.locator("#fig-sales-amount")).to_have_text("₫0")
    expect(page.locator("#period-label")).to_contain_text("2025")  # compared with December 2025

    page.goto(f"{live_server.url}/admin/members/member/")
    _shot(page, "member-list")
    page.click(f"text={s.member.full_name}")
    page.wait_for_url(f"**/admin/tessera/members/{s.member.pk}/")
    assert violations == []


def test_the_report_export_menu_opens_without_a_script(page, live_server, violations):  # noqa: F811
    merchant = MerchantFactory(name="Phở Hà Nội", slug="dash-reports", default_language="en")
    world(merchant)
    staff_user(merchant, "finance", username="dash-finance")

    log_in(page, live_server, "dash-finance", next_path="/admin/tessera/reports/sales/")
    page.click("a[data-preset='last_month']")
    page.wait_for_url("**period=last_month")
    menu = page.locator("#export-menu a[data-export=xlsx][data-table=stores]")
    expect(menu).to_be_hidden()
    page.click("#export-menu summary")
    expect(menu).to_be_visible()
    _shot(page, "report-export-menu")
    assert violations == []
