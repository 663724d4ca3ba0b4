"""Exports in a real browser (C4, J6): a merchant admin searches the member list, opens the Export menu,
picks CSV and downloads a file holding exactly the members the list shows."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tessera.members import services as members
from tests.factories import MerchantFactory, StoreFactory, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.staff_user's


def test_c4_admin_downloads_the_searched_member_list_as_csv(page, live_server):
    merchant = MerchantFactory(name="Phở Hà Nội", slug="pho-export", default_language="en")
    store = StoreFactory(merchant=merchant, name="Hoàn Kiếm")
    staff_user(merchant, "merchant_admin", username="boss-export")
    for phone, name in [("0903123456", "Nguyễn Văn An"), ("0912345678", "Trần Thị Bình")]:
        members.register_member(merchant=merchant, phone=phone, store=store, full_name=name)

    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", "boss-export")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    page.goto(f"{live_server.url}/admin/members/member/?q=nguyen")
    assert page.locator("#result_list tbody tr").count() == 1

    page.locator("li a:not([href])", has_text="Export").click()
    csv_link = page.locator("a[href*='/export-csv/']")
    with page.expect_download() as download_info:
        csv_link.click()
    download = download_info.value

    assert download.suggested_filename.startswith("member-") and download.suggested_filename.endswith(".csv")
    data = Path(download.path()).read_bytes()
    assert data.startswith("\ufeff".encode())
    header, *lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert header[:3] == ["phone", "name", "status"]
    assert [(line[0], line[1], line[10]) for line in lines] == [
        ("'+84903123456", "Nguyễn Văn An", "Hoàn Kiếm")
    ]
