"""Issue 12: the pages still work under their Content-Security-Policy, and the browser reports no
violation: the member portal (login, language switch, card page), the staff scanner, the back office
(dashboard with charts, a member's change page, the cashier screen and its receipt, a report with a
chart), and the website widget on a shop page that has a strict policy of its own."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tessera.backoffice.tests.shop import PIN, shop
from tessera.cards.tests.factories import CardTypeFactory
from tessera.cards.tests.helpers import active_card
from tessera.ledger import services as ledger
from tessera.ledger.models import AccountKind, EntryKind
from tessera.portal import services as portal
from tessera.portal.widget import sign
from tessera.reports.tests.world import world
from tessera.rewards.models import PromoCode
from tessera.rewards.tests.factories import PromoCodeOfferFactory
from tessera.tiers import services as tiers
from tessera.tiers.tests.factories import program, spend
from tests.factories import MemberFactory, MerchantFactory, StoreFactory, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.staff_user's
MEMBER_PASSWORD = "a long member password 42"


@pytest.fixture
def violations(page):
    """Every console message of the page that reports a Content-Security-Policy violation."""
    seen: list[str] = []
    page.on(
        "console",
        lambda message: seen.append(message.text) if "Content Security Policy" in message.text else None,
    )
    page.on("pageerror", lambda error: seen.append(f"page error: {error}"))
    return seen


def give_points(member, points):
    account = ledger.open_account(merchant=member.merchant, kind=AccountKind.POINTS, member=member)
    ledger.credit(account=account, amount=points, kind=EntryKind.BONUS, source="test")


def log_in(page, live_server, username, next_path="/admin/"):
    page.goto(f"{live_server.url}/admin/login/?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{next_path}")


def alpine_started(page) -> bool:
    """Alpine.js evaluates its attributes with `new Function`: it runs only if 'unsafe-eval' is allowed,
    and removes every `x-cloak` once it has."""
    page.wait_for_function("() => !!window.Alpine")
    return page.evaluate("() => document.querySelectorAll('[x-cloak]').length") == 0


def wait_for_chart(page, selector) -> None:
    """Chart.js has drawn on the canvas (an admin page: Playwright's polling may evaluate strings there)."""
    page.wait_for_function(f"() => !!Chart.getChart(document.querySelector({selector!r}))")


def test_the_portal_signs_in_switches_language_and_shows_the_card_without_a_violation(
    page, live_server, violations
):
    merchant = MerchantFactory(slug="csp-portal", default_language="en", primary_color="#7c2d12")
    member = MemberFactory(merchant=merchant, phone="+84903123456", full_name="Nguyễn Văn An")
    portal.set_member_password(member=member, password=MEMBER_PASSWORD)
    program(merchant)
    spend(member, 1_200_000, timezone.now() - timedelta(days=1))
    tiers.evaluate_upgrade(member=member)
    active_card(CardTypeFactory(merchant=merchant), phone="0903123456")

    page.goto(f"{live_server.url}/m/{merchant.slug}/login/")
    page.select_option("#language", "vi")  # submits by itself (portal.js), no inline handler
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    page.select_option("#language", "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.fill("#phone-pw", "0903123456")
    page.fill("#password", MEMBER_PASSWORD)
    page.click("#password-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/m/{merchant.slug}/")

    # The brand's colours come from the page's nonce-carrying <style>; the tier bar is a <progress>.
    assert page.locator(".brand").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(124, 45, 18)"
    assert page.locator("#tier progress").get_attribute("value") == "24"
    assert page.locator("img.qr").evaluate("e => e.naturalWidth") > 0
    assert violations == []


def test_the_scanner_finds_a_card_and_adds_points_without_a_violation(page, live_server, violations):
    merchant = MerchantFactory(slug="csp-scan", default_language="en")
    store = StoreFactory(merchant=merchant, name="Quận 1")
    card = active_card(CardTypeFactory(merchant=merchant), phone="0903123456")
    staff_user(merchant, "cashier", stores=[store], username="csp-cashier")

    log_in(page, live_server, "csp-cashier", next_path="/staff/scan/")
    page.fill("#code", card.number)
    page.keyboard.press("Enter")
    page.wait_for_selector("#member:not([hidden])")
    page.fill("#amount", "250000")
    page.click("#add")

    expect(page.locator("#balance")).to_have_text("25")
    assert violations == []


def test_the_dashboard_and_a_member_change_page_run_alpine_and_charts_without_a_violation(
    page, live_server, violations
):
    merchant = MerchantFactory(name="Phở Hà Nội", slug="csp-admin", default_language="en")
    s = shop(merchant)
    staff_user(merchant, "merchant_admin", username="csp-boss")

    log_in(page, live_server, "csp-boss")
    assert alpine_started(page)
    wait_for_chart(page, ".bo-chart canvas")

    page.goto(f"{live_server.url}/admin/members/member/{s.member.pk}/change/")
    assert alpine_started(page)
    expect(page.locator("#member-360-link")).to_be_visible()
    assert violations == []


def test_the_cashier_screen_adds_a_line_and_prints_the_receipt_without_a_violation(
    page, live_server, violations
):
    merchant = MerchantFactory(name="Phở Hà Nội", slug="csp-cashier", default_language="en")
    s = shop(merchant)
    staff_user(merchant, "cashier", stores=[s.store_a], username="csp-till")

    log_in(page, live_server, "csp-till", next_path="/admin/tessera/cashier/")
    assert alpine_started(page)
    page.fill("input[name=q]", s.card.number)
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/admin/tessera/cashier/?member=*")
    page.fill("input[name=lines-0-name]", "Phở bò")
    page.fill("input[name=lines-0-unit_price]", "45000")
    page.click("#add-line")  # cashier.js, from our static files
    page.fill("input[name=lines-1-name]", "Trà đá")
    page.fill("input[name=lines-1-unit_price]", "5000")
    page.press("input[name=lines-1-unit_price]", "F2")  # the quote's shortcut, from cashier.js
    page.wait_for_selector("#quote")
    page.click("button[value=create]")
    page.wait_for_url("**/admin/tessera/cashier/sales/*/")
    page.fill("#id_pin", PIN)
    page.press("#id_pin", "Enter")
    page.wait_for_url("**/receipt/")

    page.evaluate("() => { window.print = () => { window.printed = true; }; }")
    page.click("#print-receipt")  # was an inline onclick, which the policy refuses
    assert page.evaluate("() => window.printed") is True
    assert violations == []


def test_a_report_draws_its_chart_without_a_violation(page, live_server, violations):
    merchant = MerchantFactory(name="Phở Hà Nội", slug="csp-reports", default_language="en")
    world(merchant)
    staff_user(merchant, "finance", username="csp-finance")

    log_in(page, live_server, "csp-finance", next_path="/admin/tessera/reports/")
    page.click("a[data-report=sales]")
    page.wait_for_url("**/admin/tessera/reports/sales/")
    page.fill("#id_start", "2026-03-01")
    page.click("#apply-filters")
    page.wait_for_url("**start=*")

    wait_for_chart(page, "#report-chart canvas")
    assert violations == []


class _StrictShop(BaseHTTPRequestHandler):
    """A shop's page with its own policy: scripts and fetches only from itself and Tessera, styles only
    from itself, no inline anything."""

    html = b""
    policy = ""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Security-Policy", self.policy)
        self.end_headers()
        self.wfile.write(self.html)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def strict_shop():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StrictShop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_widget_works_on_a_shop_page_with_its_own_strict_policy(
    page, live_server, strict_shop, violations
):
    shop_origin = f"http://127.0.0.1:{strict_shop.server_address[1]}"
    merchant = MerchantFactory(slug="csp-widget", default_language="en", primary_color="#7c2d12")
    created = portal.rotate_widget_secret(merchant=merchant)
    portal.update_widget_settings(widget=created.settings, allowed_origins=[shop_origin], is_enabled=True)
    member = MemberFactory(merchant=merchant, phone="+84903123456")
    give_points(member, 700)
    PromoCodeOfferFactory(merchant=merchant, name="50K off", points_cost=200)
    timestamp = str(int(time.time()))
    _StrictShop.policy = (
        f"default-src 'self'; script-src 'self' {live_server.url}; connect-src 'self' {live_server.url}; "
        "style-src 'self'; img-src 'self'; object-src 'none'; base-uri 'none'"
    )
    _StrictShop.html = (
        "<!doctype html><html><body><h1>Shop</h1>"
        f'<script src="{live_server.url}/m/{merchant.slug}/widget.js" data-phone="0903123456" '
        f'data-timestamp="{timestamp}" data-token="{sign(created.secret, "0903123456", timestamp)}"></script>'
        "</body></html>"
    ).encode()

    page.goto(f"{shop_origin}/")
    button = page.locator("#tessera-widget .fab")
    button.click()

    assert button.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(124, 45, 18)"
    assert page.locator("#tessera-widget [data-points]").inner_text() == "700"
    page.locator("#tessera-widget li button").click()
    page.wait_for_selector("#tessera-widget [data-code]")
    code = PromoCode.objects.get(member=member).code
    assert code in page.locator("#tessera-widget [data-code]").inner_text()
    assert violations == []


def test_the_api_docs_page_lists_the_operations_without_a_violation(page, live_server, violations):
    page.goto(f"{live_server.url}/api/v1/docs")

    expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)  # a large document
    assert violations == []
