"""The member portal, the website widget and the staff scanner in a real browser (G1, G2, H1)."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from tessera.cards.tests.factories import CardTypeFactory
from tessera.cards.tests.helpers import active_card
from tessera.ledger import services as ledger
from tessera.ledger.models import Account, AccountKind, EntryKind
from tessera.portal import services as portal
from tessera.portal.widget import sign
from tessera.rewards.models import PromoCode
from tessera.rewards.tests.factories import PromoCodeOfferFactory
from tests.factories import MemberFactory, MerchantFactory, StoreFactory, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.staff_user's


def give_points(member, points):
    account = ledger.open_account(merchant=member.merchant, kind=AccountKind.POINTS, member=member)
    ledger.credit(account=account, amount=points, kind=EntryKind.BONUS, source="test")


@pytest.mark.parametrize(
    ("language", "add_label", "preview"),
    [("vi", None, r"^= 250\.000\s₫$"), ("en", "Add points", r"^= ₫250,000$")],
)
def test_h1_cashier_types_a_card_number_and_adds_points_for_an_amount(
    page, live_server, language, add_label, preview
):
    merchant = MerchantFactory(slug=f"scan-{language}", default_language=language)
    store = StoreFactory(merchant=merchant, name="Quận 1")
    card = active_card(CardTypeFactory(merchant=merchant), phone="0903123456")
    staff_user(merchant, "cashier", stores=[store], username=f"cashier-{language}")

    page.goto(f"{live_server.url}/staff/scan/")
    page.wait_for_url("**/admin/login/**")
    page.fill("input[name=username]", f"cashier-{language}")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/staff/scan/")

    assert page.locator("html").get_attribute("lang") == language
    assert page.locator("#store-name").inner_text() == "Quận 1"
    page.fill("#code", card.number)
    page.keyboard.press("Enter")  # as a keyboard-wedge scanner ends its number
    page.wait_for_selector("#member:not([hidden])")
    assert page.locator("#member-card").inner_text() == card.number
    page.fill("#amount", "250.000")  # the Vietnamese way: 250 thousand đồng, whatever the language
    # What the server reads it as, shown before anything is saved (issue 14).
    expect(page.locator("output.money-preview")).to_have_text(re.compile(preview))
    if add_label:
        assert page.locator("#add").inner_text() == add_label
    page.click("#add")

    # Not wait_for_function("…"): Playwright evaluates a string with eval, which the page's policy refuses.
    expect(page.locator("#balance")).to_have_text("25")
    assert page.locator("#today-added").inner_text() == "25"
    assert Account.objects.get(member=card.member, kind=AccountKind.POINTS).balance == 25
    expect(page.locator("output.money-preview")).to_have_text("")  # the form was reset


def test_h1_a_deduction_is_asked_about_first_and_esc_sends_nothing(page, live_server):
    merchant = MerchantFactory(slug="scan-deduct", default_language="vi")
    store = StoreFactory(merchant=merchant, name="Quận 1")
    card = active_card(CardTypeFactory(merchant=merchant), phone="0903123456")
    card.member.full_name = "Nguyễn Văn An"
    card.member.save(update_fields=["full_name"])
    give_points(card.member, 120)
    staff_user(merchant, "store_manager", stores=[store], username="manager-deduct")

    page.goto(f"{live_server.url}/staff/scan/")
    page.wait_for_url("**/admin/login/**")
    page.fill("input[name=username]", "manager-deduct")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/staff/scan/")
    page.fill("#code", card.number)
    page.keyboard.press("Enter")
    page.wait_for_selector("#member:not([hidden])")
    # Add in green and deduct in red, each with its sign and its title, not by colour alone (issue 14).
    add_colour = page.locator("#add").evaluate("b => getComputedStyle(b).backgroundColor")
    deduct_colour = page.locator("#deduct").evaluate("b => getComputedStyle(b).backgroundColor")
    assert (add_colour, deduct_colour) == ("rgb(21, 128, 61)", "rgb(185, 28, 28)")
    expect(page.locator("#deduct-form .action-title")).to_have_text(re.compile(r"−\s*Trừ điểm"))

    page.fill("#points", "50")
    page.fill("#reason", "Đổi quà")
    page.click("#deduct")
    expect(page.locator("#deduct-confirm")).to_be_visible()
    expect(page.locator("#deduct-question")).to_have_text("Trừ 50 điểm của Nguyễn Văn An?")
    expect(page.locator("#deduct-cancel")).to_be_focused()  # Enter on its own would cancel
    page.keyboard.press("Escape")
    expect(page.locator("#deduct-confirm")).to_be_hidden()
    expect(page.locator("#status")).to_have_text("Chưa trừ điểm nào.")
    assert Account.objects.get(member=card.member, kind=AccountKind.POINTS).balance == 120

    page.locator("#reason").press("Enter")  # the form again, by keyboard
    expect(page.locator("#deduct-confirm")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.locator("#deduct-confirmed")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.locator("#balance")).to_have_text("70")
    assert Account.objects.get(member=card.member, kind=AccountKind.POINTS).balance == 70


def _sms_code(path, phone):
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return re.search(r"\b(\d{6})\b", [m["text"] for m in lines if m["phone"] == phone][-1]).group(1)


@pytest.mark.parametrize(("language", "redeem_label"), [("en", "Redeem"), ("zh-hans", None)])
def test_g1_member_signs_in_with_the_sms_code_and_turns_points_into_a_code(
    page, live_server, settings, tmp_path, language, redeem_label
):
    settings.SMS_BACKEND = "file"
    settings.VAR_DIR = tmp_path
    merchant = MerchantFactory(slug=f"portal-{language}", default_language=language, primary_color="#7c2d12")
    member = MemberFactory(merchant=merchant, phone="+84903123456", full_name="Nguyễn Văn An")
    give_points(member, 500)
    PromoCodeOfferFactory(merchant=merchant, name="50K", points_cost=200)

    page.goto(f"{live_server.url}/m/{merchant.slug}/")
    page.wait_for_url("**/login/")
    assert page.locator("html").get_attribute("lang") == language
    page.fill("#phone", "0903123456")
    page.click("#code-form button[type=submit]")
    page.wait_for_url("**/login/code/")
    page.fill("#code", _sms_code(tmp_path / "sms.log", "+84903123456"))
    page.click("#verify-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/m/{merchant.slug}/")

    assert page.locator("#points-balance").inner_text() == "500"
    assert page.locator(".brand").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(124, 45, 18)"
    button = page.locator("#offers button[type=submit]")
    if redeem_label:
        assert button.inner_text() == redeem_label
    button.click()
    # Asked first (issue 14): Esc spends nothing; "Yes" does.
    expect(page.locator("#confirm-dialog")).to_be_visible()
    expect(page.locator("#confirm-question")).to_have_text(re.compile(r"200.*50K"))
    page.keyboard.press("Escape")
    expect(page.locator("#confirm-dialog")).to_be_hidden()
    assert not PromoCode.objects.filter(member=member).exists()
    button.click()
    page.click("#confirm-ok")
    page.wait_for_selector("#codes .code")

    code = PromoCode.objects.get(member=member)
    assert page.locator("#codes .code").first.inner_text() == code.code
    assert page.locator("#points-balance").inner_text() == "300"
    # The code as a QR for the till, and a copy button (http://localhost is a secure context).
    page.locator("#codes summary").first.click()
    expect(page.locator("#codes .code-qr img").first).to_be_visible()
    copy = page.locator("#codes button.copy").first
    expect(copy).to_be_visible()


class _ShopPage(BaseHTTPRequestHandler):
    html = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.html)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def shop():
    """A shop's web server on another origin. It is on the loopback address too: Chromium refuses a
    public page's requests to a loopback server (Private Network Access)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ShopPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _origin(shop) -> str:
    return f"http://127.0.0.1:{shop.server_address[1]}"


def _open_shop_page(page, shop, live_server, slug, *, phone, timestamp, token, language="en"):
    _ShopPage.html = (
        "<!doctype html><html><body><h1>Shop</h1>"
        f'<script src="{live_server.url}/m/{slug}/widget.js?lang={language}" data-phone="{phone}" '
        f'data-timestamp="{timestamp}" data-token="{token}"></script></body></html>'
    ).encode()
    page.goto(f"{_origin(shop)}/")


def _widget_shop(slug, shop):
    merchant = MerchantFactory(slug=slug, default_language="en")
    created = portal.rotate_widget_secret(merchant=merchant)
    portal.update_widget_settings(widget=created.settings, allowed_origins=[_origin(shop)], is_enabled=True)
    member = MemberFactory(merchant=merchant, phone="+84903123456")
    give_points(member, 700)
    PromoCodeOfferFactory(merchant=merchant, name="50K off", points_cost=200)
    return merchant, created.secret, member


@pytest.mark.parametrize(
    ("language", "redeem_label"), [("en", "Redeem for a code"), ("vi", "Đổi điểm lấy mã")]
)
def test_g2_a_signed_shopper_opens_the_widget_and_gets_a_promo_code(
    page, live_server, shop, language, redeem_label
):
    merchant, secret, member = _widget_shop(f"widget-shop-{language}", shop)
    timestamp = str(int(time.time()))

    _open_shop_page(
        page,
        shop,
        live_server,
        merchant.slug,
        phone="0903123456",
        timestamp=timestamp,
        token=sign(secret, "0903123456", timestamp),
        language=language,
    )

    button = page.locator("#tessera-widget .fab")
    button.click()
    assert page.locator("#tessera-widget [data-points]").inner_text() == "700"
    assert page.locator("#tessera-widget li button").inner_text().strip() == redeem_label
    page.locator("#tessera-widget li button").click()
    page.wait_for_selector("#tessera-widget [data-code]")

    code = PromoCode.objects.get(member=member)
    assert code.issued_via == "widget"
    assert code.code in page.locator("#tessera-widget [data-code]").inner_text()
    assert Account.objects.get(member=member, kind=AccountKind.POINTS).balance == 500


def test_g2_an_invalid_token_shows_nothing_on_the_shop_page(page, live_server, shop):
    merchant, _secret, _member = _widget_shop("widget-forged", shop)
    timestamp = str(int(time.time()))
    answered = []
    page.on(
        "response",
        lambda response: answered.append(response.status) if "/widget/api/me" in response.url else None,
    )

    _open_shop_page(
        page,
        shop,
        live_server,
        merchant.slug,
        phone="0903123456",
        timestamp=timestamp,
        token=sign("forged", "0903123456", timestamp),
    )
    page.wait_for_load_state("networkidle")

    assert answered == [401]
    assert page.locator("#tessera-widget").count() == 0
