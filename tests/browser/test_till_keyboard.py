"""Issue 14: the cashier rings up a sale with the keyboard only, in vi and zh-Hans (E3, E2, localised UI).

The journey of the issue, played key by key and counted: scan card 8868000000010 (13 characters and
Enter), line 1 "Phở bò tái" × 1 at 120,000, line 2 "Quẩy" × 2 at 15,000, quote, continue, PIN 1234,
print, next customer — 43 characters of data. At most 56 presses in all, at most 2 of them Tab, and after
every step the cursor is on the next useful field."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tessera.backoffice.demo import DEMO_MEMBER_PIN
from tessera.backoffice.tests.shop import confirmed_sale, shop
from tessera.members.services import set_member_pin
from tessera.sales.models import Transaction
from tests.factories import MerchantFactory, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.staff_user's
CARD = "8868000000010"  # the first card of a 8868 card type, as in the demo data
MOST_PRESSES = 56
MOST_TABS = 2


class CountedKeyboard:
    """The cashier's keyboard: a character counts one press whatever the input method; Enter, Tab, a
    function key or Alt+N one each."""

    def __init__(self, page) -> None:
        self.page = page
        self.presses = 0
        self.tabs = 0

    def type(self, text: str) -> None:
        for char in text:
            self.page.keyboard.type(char)
            self.presses += 1

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.presses += 1
        self.tabs += key == "Tab"


def _log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


@pytest.mark.parametrize(("language", "quote_label"), [("vi", "Tạm tính"), ("zh-hans", "试算")])
def test_a_two_line_sale_takes_at_most_56_key_presses_and_2_tabs(page, live_server, language, quote_label):
    merchant = MerchantFactory(name="Phở Hà Nội", slug=f"keys-{language}", default_language=language)
    s = shop(merchant)
    assert s.card.number == CARD
    set_member_pin(member=s.member, pin=DEMO_MEMBER_PIN)
    cashier = staff_user(merchant, "cashier", stores=[s.store_a], username=f"till-{language}")

    _log_in(page, live_server, cashier.user.username)
    # A cashier's home page is the till, with the cursor in the card box.
    page.wait_for_url(f"{live_server.url}/admin/tessera/cashier/")
    assert page.locator("html").get_attribute("lang") == language
    keys = CountedKeyboard(page)
    expect(page.locator("input[name=q]")).to_be_focused(timeout=15_000)  # a loaded CI machine is slow

    keys.type(CARD)
    keys.press("Enter")  # as a keyboard-wedge reader ends the number
    page.wait_for_url("**/admin/tessera/cashier/?member=*")
    expect(page.locator("#cashier-basket[data-keys=ready]")).to_have_count(1)
    expect(page.locator("input[name=lines-0-name]")).to_be_focused()
    # The shortcuts are on the screen.
    hints = page.locator("#cashier-keys")
    expect(hints).to_be_visible()
    assert "F2" in hints.inner_text() and "F4" in hints.inner_text() and "Alt+N" in hints.inner_text()
    assert quote_label in page.locator("#quote-button").inner_text()
    assert "F2" in page.locator("#quote-button").inner_text()

    keys.type("Phở bò tái")
    keys.press("Enter")
    expect(page.locator("input[name=lines-0-quantity]")).to_be_focused()
    keys.press("Enter")  # one, as it stands
    expect(page.locator("input[name=lines-0-unit_price]")).to_be_focused()
    keys.type("120000")
    keys.press("Enter")
    expect(page.locator("input[name=lines-1-name]")).to_be_focused()  # a new line, made for it

    keys.type("Quẩy")
    keys.press("Enter")
    expect(page.locator("input[name=lines-1-quantity]")).to_be_focused()
    keys.type("2")  # replaces the 1
    keys.press("Enter")
    expect(page.locator("input[name=lines-1-unit_price]")).to_be_focused()
    keys.type("15000")
    keys.press("Enter")
    expect(page.locator("input[name=lines-2-name]")).to_be_focused()

    keys.press("F2")
    page.wait_for_selector("#quote")
    total = page.locator("#quote-total").inner_text()
    assert "".join(c for c in total if c.isdigit()) == "150000"  # 150.000 ₫ (vi), ₫150,000 (zh-Hans)
    expect(page.locator("#continue-button")).to_be_focused()
    assert not Transaction.objects.exists()

    keys.press("Enter")
    page.wait_for_url("**/admin/tessera/cashier/sales/*/")
    expect(page.locator("#id_pin")).to_be_focused()
    keys.type(DEMO_MEMBER_PIN)
    keys.press("Enter")
    page.wait_for_url("**/receipt/")
    expect(page.locator("#print-receipt")).to_be_focused()

    keys.press("Enter")  # prints
    expect(page.locator("#next-customer")).to_be_focused()
    keys.press("Enter")
    page.wait_for_url(f"{live_server.url}/admin/tessera/cashier/")
    expect(page.locator("input[name=q]")).to_be_focused()

    sale = Transaction.objects.get()
    assert sale.status == "confirmed" and sale.card == s.card
    assert [(line.name, line.quantity, line.unit_price) for line in sale.lines.order_by("pk")] == [
        ("Phở bò tái", 1, 120_000),
        ("Quẩy", 2, 15_000),
    ]
    assert sale.total_amount == 150_000
    data = len(CARD) + len("Phở bò tái") + len("120000") + len("Quẩy") + 1 + len("15000") + len("1234")
    assert data == 43
    assert keys.tabs <= MOST_TABS
    assert keys.presses <= MOST_PRESSES, keys.presses
    assert keys.presses == 55  # 43 characters, 11 Enter and F2


def test_the_cursor_goes_to_the_field_the_server_refused(page, live_server):
    merchant = MerchantFactory(name="Phở Hà Nội", slug="keys-refused", default_language="vi")
    s = shop(merchant)
    cashier = staff_user(merchant, "cashier", stores=[s.store_a], username="till-refused")
    _log_in(page, live_server, cashier.user.username)
    page.wait_for_url(f"{live_server.url}/admin/tessera/cashier/")
    page.goto(f"{live_server.url}/admin/tessera/cashier/?member={s.member.pk}")
    expect(page.locator("#cashier-basket[data-keys=ready]")).to_have_count(1)
    keys = CountedKeyboard(page)

    keys.type("Phở bò tái")
    keys.press("Enter")
    keys.press("Enter")
    keys.press("Enter")  # no price: on to the next line all the same
    expect(page.locator("input[name=lines-1-name]")).to_be_focused()
    keys.press("F2")

    page.wait_for_selector("#line-rows .text-red-600")
    assert not page.locator("#quote").count()
    expect(page.locator("input[name=lines-0-unit_price]")).to_be_focused()
    keys.type("120000")
    keys.press("F2")
    page.wait_for_selector("#quote")
    expect(page.locator("#continue-button")).to_be_focused()


def test_an_item_sold_lately_brings_its_last_price(page, live_server):
    merchant = MerchantFactory(name="Phở Hà Nội", slug="keys-recent", default_language="vi")
    s = shop(merchant)
    confirmed_sale(member=s.member, store=s.store_a, amount=120_000)  # one "Phở bò"
    cashier = staff_user(merchant, "cashier", stores=[s.store_a], username="till-recent")
    _log_in(page, live_server, cashier.user.username)
    page.wait_for_url(f"{live_server.url}/admin/tessera/cashier/")
    page.goto(f"{live_server.url}/admin/tessera/cashier/?member={s.member.pk}")
    expect(page.locator("#cashier-basket[data-keys=ready]")).to_have_count(1)
    assert page.locator("input[name=lines-0-name]").get_attribute("list") == "recent-items"
    keys = CountedKeyboard(page)

    keys.type("Phở bò")
    keys.press("Enter")
    expect(page.locator("input[name=lines-0-unit_price]")).to_have_value("120000")
    keys.press("Enter")
    keys.press("Enter")  # the price as it was
    keys.press("F2")

    page.wait_for_selector("#quote")
    assert page.locator("#quote-total").inner_text().replace(".", "").startswith("120000")
    assert keys.presses == 10
