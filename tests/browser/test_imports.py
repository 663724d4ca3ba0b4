"""C4 in a real browser: a merchant admin uploads an .xlsx, keeps the suggested mapping, checks the
file, imports it and finds the members in the member list."""

from __future__ import annotations

import pytest

from tessera.imports.tests.factories import xlsx_bytes
from tests.factories import MerchantFactory, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.staff_user's


def test_merchant_admin_imports_members_from_an_xlsx_file(page, live_server, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    merchant = MerchantFactory(name="Phở Hà Nội", slug="pho-import", default_language="en")
    staff_user(merchant, "merchant_admin", username="boss-import")
    upload = tmp_path / "khach-hang.xlsx"
    upload.write_bytes(
        xlsx_bytes(
            [
                ["Số điện thoại", "Họ tên", "Ngày sinh", "Điểm"],
                ["0912 345 678", "Nguyễn Thị Hồng", "03/05/1990", 1500],
                [903123456.0, "王小明", 32996, 200],
            ]
        )
    )

    page.goto(f"{live_server.url}/admin/login/?next=/admin/tessera/imports/")
    page.fill("input[name=username]", "boss-import")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/tessera/imports/")

    page.set_input_files("#import-upload input[type=file]", str(upload))
    page.click("#import-upload button[type=submit]")
    page.wait_for_url("**/mapping/")
    # The columns were recognised from their Vietnamese names.
    assert page.locator("#id_col_0").input_value() == "phone"
    assert page.locator("#id_col_1").input_value() == "full_name"
    assert page.locator("#id_col_2").input_value() == "birthday"
    assert page.locator("#id_col_3").input_value() == "points"

    page.click("#import-mapping button[type=submit]")
    page.wait_for_url("**/imports/*/")
    assert page.locator("#import-state").get_attribute("data-state") == "validated"
    assert page.locator("[data-count=valid_rows]").inner_text() == "2"
    assert page.locator("[data-count=points]").inner_text() == "1700"

    page.click("#import-actions button[type=submit] >> nth=0")
    page.wait_for_url("**/imports/*/")
    assert page.locator("#import-state").get_attribute("data-state") == "done"
    assert page.locator("[data-count=created]").inner_text() == "2"

    page.goto(f"{live_server.url}/admin/members/member/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    assert page.get_by_text("Nguyễn Thị Hồng").count() >= 1
    assert page.get_by_text("王小明").count() >= 1
