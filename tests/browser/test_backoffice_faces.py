"""The back office's faces in a real browser, in the merchant's language: a manager logs in and opens a
member's 360 page (vi, en); a cashier rings up a sale by hand with a keyboard-wedge scan, a quote and the
member's PIN, and prints the receipt (vi, zh-Hans) (E3, E2, C1, localised UI)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tessera.backoffice.tests.shop import PIN, shop
from tessera.ledger.models import Account, AccountKind
from tessera.sales import services as sales
from tessera.sales.models import Transaction
from tests.factories import MerchantFactory, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.staff_user's


def _merchant(language: str):
    if language == "zh-hans":
        return MerchantFactory(
            name="茶馆 Tea House",
            slug="tea-house",
            currency="CNY",
            time_zone="Asia/Shanghai",
            default_language="zh-hans",
            country="CN",
        )
    return MerchantFactory(name="Phở Hà Nội", slug=f"pho-{language}", default_language=language)


def _log_in(page, live_server, username: str, lands_on: str = "/admin/") -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{lands_on}")


@pytest.mark.parametrize("language", ["vi", "en"])
def test_a_manager_logs_in_and_opens_a_members_360_page(page, live_server, language):
    merchant = _merchant(language)
    s = shop(merchant)
    boss = staff_user(merchant, "merchant_admin", username=f"boss-{language}")
    sales.add_points(member=s.member, store=s.store_a, actor=boss.user, points=120, note="welcome")

    _log_in(page, live_server, boss.user.username)
    page.goto(f"{live_server.url}/admin/members/member/{s.member.pk}/change/")
    page.click("#member-360-link")
    page.wait_for_url(f"**/admin/tessera/members/{s.member.pk}/")

    assert page.locator("html").get_attribute("lang") == language
    assert page.locator("#member-name").inner_text() == "Trần Thị Bình"
    assert "Không ăn hành" in page.locator("#member-preferences").inner_text()
    assert page.locator("#points-balance").inner_text() == "120"
    assert s.card.number in page.locator("#member-cards").inner_text()
    assert page.locator("#member-lots tbody tr").count() == 1


@pytest.mark.parametrize(
    ("language", "prices", "points"),
    [
        ("vi", ("45000", "5000"), 9),  # 95,000 đồng at 1 point per 10,000, rounded down
        ("zh-hans", ("45.00", "5.00"), 95),  # 95.00 yuan at 1 point per yuan
    ],
)
def test_a_cashier_rings_up_a_sale_by_hand_from_scan_to_receipt(page, live_server, language, prices, points):
    merchant = _merchant(language)
    s = shop(merchant)
    cashier = staff_user(merchant, "cashier", stores=[s.store_a], username=f"cashier-{language}")

    _log_in(page, live_server, cashier.user.username, lands_on="/admin/tessera/cashier/")  # their home page
    assert page.locator("html").get_attribute("lang") == language
    # The lookup field has the focus: a keyboard-wedge reader types the number and Enter.
    expect(page.locator("input[name=q]")).to_be_focused(timeout=15_000)  # a loaded CI machine is slow
    page.keyboard.type(s.card.number)
    page.keyboard.press("Enter")
    page.wait_for_url("**/admin/tessera/cashier/?member=*")
    assert page.locator("#customer-name").inner_text() == "Trần Thị Bình"

    page.fill("input[name=lines-0-name]", "Phở bò")
    page.fill("input[name=lines-0-quantity]", "2")
    page.fill("input[name=lines-0-unit_price]", prices[0])
    page.click("#add-line")
    expect(page.locator("input[name=lines-1-name]")).to_be_focused()  # the new line's first field
    page.keyboard.type("Trà đá")
    page.fill("input[name=lines-1-unit_price]", prices[1])
    page.press("input[name=lines-1-unit_price]", "Enter")  # Enter goes on to a new, empty line
    expect(page.locator("input[name=lines-2-name]")).to_be_focused()
    page.keyboard.press("Enter")  # Enter on an empty line asks for a quote
    page.wait_for_selector("#quote")
    assert page.locator("#quote-points").inner_text() == str(points)
    assert not Transaction.objects.exists()

    page.click("button[value=create]")
    page.wait_for_url("**/admin/tessera/cashier/sales/*/")
    page.fill("#id_pin", PIN)
    page.press("#id_pin", "Enter")
    page.wait_for_url("**/receipt/")

    assert page.locator("#receipt-points-earned").inner_text() == str(points)
    assert page.locator("#receipt-points-balance").inner_text() == str(points)
    sale = Transaction.objects.get()
    assert (sale.status, sale.store, [line.name for line in sale.lines.all()]) == (
        "confirmed",
        s.store_a,
        ["Phở bò", "Trà đá"],
    )
    assert Account.objects.get(member=s.member, kind=AccountKind.POINTS).balance == points
