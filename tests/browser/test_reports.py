"""Reports in a real browser: finance opens the transaction report, filters it to one store and
exports it (J1, J6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tessera.reports.tests.world import world
from tests.factories import MerchantFactory, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.staff_user's


def test_finance_filters_the_transaction_report_to_one_store_and_exports_it(page, live_server, tmp_path):
    merchant = MerchantFactory(name="Phở Hà Nội", slug="pho-reports", default_language="en")
    world(merchant)
    staff_user(merchant, "finance", username="ke-toan")

    page.goto(f"{live_server.url}/admin/login/?next=/admin/tessera/reports/")
    page.fill("input[name=username]", "ke-toan")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/tessera/reports/")

    page.click("a[data-report=sales]")
    page.wait_for_url("**/admin/tessera/reports/sales/")
    page.fill("#id_start", "2026-03-01")
    page.select_option("#id_stores", label="Hoàn Kiếm")
    page.click("#apply-filters")
    page.wait_for_url("**stores=*")

    stores = page.locator("table[data-table=stores] tbody tr")
    expect(stores).to_have_count(2)  # the store and the total
    expect(stores.first).to_contain_text("Hoàn Kiếm")
    expect(stores.first).to_contain_text("₫200,000")
    expect(page.locator("#report-chart canvas")).to_have_count(1)

    with page.expect_download() as download:
        page.click("#export-menu summary")  # one menu for every table and format
        page.click("#export-menu a[data-table=stores][data-export=csv]")
    saved = Path(tmp_path) / "stores.csv"
    download.value.save_as(saved)
    text = saved.read_text(encoding="utf-8-sig")
    assert "Hoàn Kiếm,1,200000" in text
    assert "Quận 1" not in text
