"""The customer brings back one drink: a store manager refunds one line of a sale in the back office, in
Vietnamese and in Chinese, through the preview, with a double click on the confirmation (on
PostgreSQL); the sale's refunds table fits its card on a desktop and scrolls inside it on a phone (E9,
E11, issue 14)."""

from __future__ import annotations

import os

import pytest
from django.db import connection
from playwright.sync_api import expect

from tessera.backoffice.tests.shop import PIN, shop
from tessera.ledger.models import Account, AccountKind
from tessera.sales import services as sales
from tessera.sales.models import Refund
from tessera.sales.services import SaleLine
from tests.factories import MerchantFactory, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.staff_user's
#: Where to save screenshots of the pages, to look at them (unset: none are taken).
SHOTS = os.environ.get("TESSERA_SCREENSHOTS_DIR", "")


def _shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def _log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")


def _fits(page, selector: str) -> dict[str, int]:
    """The page's and the table wrapper's widths: what is shown and what would need scrolling."""
    return page.evaluate(
        """(selector) => {
            const box = document.querySelector(selector);
            return {
                page: document.documentElement.scrollWidth,
                view: document.documentElement.clientWidth,
                box: box.clientWidth,
                table: box.scrollWidth,
            };
        }""",
        selector,
    )


def _lines_of(page, selector: str) -> int:
    """How many lines the text of the first element matching `selector` is laid out on."""
    return page.evaluate(
        """(selector) => {
            const range = document.createRange();
            range.selectNodeContents(document.querySelector(selector));
            return new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size;
        }""",
        selector,
    )


@pytest.mark.parametrize(
    ("language", "refund_link", "only_two_left"),
    [("vi", "Hoàn trả hàng", "Chỉ còn 2 có thể hoàn trả."), ("zh-hans", "按商品退款", "只剩 2 件可退。")],
)
def test_e9_a_manager_refunds_one_iced_tea(page, live_server, language, refund_link, only_two_left):
    merchant = MerchantFactory(name="Phở Hà Nội", slug=f"pho-refund-{language}", default_language=language)
    s = shop(merchant)
    boss = staff_user(merchant, "store_manager", stores=[s.store_a], username=f"manager-{language}")
    sale = sales.create_transaction(
        merchant=merchant,
        store=s.store_a,
        member=s.member,
        lines=[SaleLine("Phở bò", 2, 45000), SaleLine("Trà đá", 3, 5000)],
    )
    sales.confirm_transaction(transaction=sale, method="pin", pin=PIN)
    tea = sale.lines.get(name="Trà đá")
    sales.refund_transaction(transaction=sale, lines={tea.pk: 1}, reason="Khách đổi ý, trà bị đổ ra bàn")

    _log_in(page, live_server, boss.user.username)
    page.goto(f"{live_server.url}/admin/sales/transaction/{sale.pk}/change/")
    assert page.locator("html").get_attribute("lang") == language
    page.get_by_role("link", name=refund_link).click()
    page.wait_for_url(f"**/admin/sales/transaction/{sale.pk}/refund/")

    page.fill(f"input[name=line_{tea.pk}]", "5")  # only 2 left
    page.click("#refund-preview-button")
    expect(page.locator("#refund-lines")).to_contain_text(only_two_left)
    _shot(page, "refund-form")

    page.fill(f"input[name=line_{tea.pk}]", "1")
    page.fill("input[name=reason]", "Trà nguội")
    page.click("#refund-preview-button")
    expect(page.locator("#refund-preview")).to_be_visible()
    _shot(page, "refund-preview")
    # 5,000 đồng of 105,000: no whole point to take back yet (floor(10 × 5,000 / 105,000) = 0).
    assert "".join(c for c in page.locator("#preview-amount").inner_text() if c.isdigit()) == "5000"
    assert page.locator("#preview-points-reversed").inner_text() == "0"
    assert Refund.objects.count() == 1  # the preview wrote nothing

    if connection.vendor == "postgresql":
        page.dblclick("#refund-confirm")  # an impatient double click: two posts of one form
    else:
        # live_server's threads share the test's one in-memory SQLite connection: two requests at once
        # would collide in the test harness, not in Tessera. The replay is tested on SQLite by
        # sales/tests/test_refund_page.py.
        page.click("#refund-confirm")
    page.wait_for_url(f"**/admin/sales/transaction/{sale.pk}/change/")
    expect(page.locator("#sale-refunds tbody tr")).to_have_count(2)

    assert Refund.objects.count() == 2
    latest = Refund.objects.order_by("pk").last()
    assert (latest.amount, latest.reason, [line.quantity for line in latest.lines.all()]) == (
        5000,
        "Trà nguội",
        [1],
    )
    assert Account.objects.get(member=s.member, kind=AccountKind.POINTS).balance == 10

    # The refunds table: fits its card at 1440 px, one line per date; at 390 px it scrolls in its card.
    page.set_viewport_size({"width": 1440, "height": 900})
    page.reload()
    wide = _fits(page, ".tessera-refunds")
    _shot(page, "refunds-1440")
    assert wide["table"] <= wide["box"], wide
    assert wide["page"] <= wide["view"], wide
    assert _lines_of(page, ".tessera-refunds td.field-refunded_at") == 1  # not five

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    narrow = _fits(page, ".tessera-refunds")
    _shot(page, "refunds-390")
    assert narrow["page"] <= narrow["view"], narrow  # the page itself never scrolls sideways
    assert narrow["table"] > narrow["box"], narrow  # the table scrolls inside its card
