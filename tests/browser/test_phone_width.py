"""Issue 14: the back office on a phone (390 px). The demo's merchant admin opens the main pages; none
scrolls sideways (wide tables scroll inside their own box), the menu button is a 44 px target with a
name, and no icon-only button announces its icon's ligature ("dock_to_right") (localised UI, B1)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from tessera.members.models import Member
from tessera.sales.models import Transaction
from tessera.tenancy.management.commands.seed_demo import DEMO_PASSWORD
from tessera.tenancy.models import Merchant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
PAGES = [
    "/admin/",
    "/admin/members/member/",
    "/admin/tessera/members/{member}/",
    "/admin/sales/transaction/",
    "/admin/sales/transaction/{sale}/change/",
    "/admin/ledger/entry/",
    "/admin/tessera/reports/",
    "/admin/tessera/reports/sales/",
    "/admin/tessera/cashier/",
    "/admin/rules/earningrule/",
    "/admin/marketing/campaign/",
    "/admin/cards/card/",
    "/admin/cards/cardbatch/",
    "/admin/tessera/cashier/sales/{sale}/receipt/",
]
# Icon fonts draw a ligature: an icon's text is its name ("dock_to_right"), which a screen reader would
# read out. A control is unnamed when its text is only its icons' and no aria-label names it.
ICON_ONLY_CONTROLS = r"""() => [...document.querySelectorAll('a, button, [x-on\\:click]')].filter(el => {
    if (el.offsetParent === null || (el.getAttribute('aria-label') || '').trim()) return false;
    const icons = el.matches('.material-symbols-outlined') ? [el]
        : [...el.querySelectorAll('.material-symbols-outlined')];
    const squeeze = text => text.replace(/\s+/g, '');
    return icons.length > 0 && squeeze(el.innerText) === squeeze(icons.map(i => i.innerText).join(''));
}).map(el => el.outerHTML.slice(0, 160))"""


# Buttons a thumb must hit: at least 44 px high (WCAG 2.5.5).
SMALL_BUTTONS = """() => [...document.querySelectorAll(
    'button, input[type=submit], a.rounded-default.inline-flex, a.rounded-default.flex')].filter(el => {
    const box = el.getBoundingClientRect();
    return el.offsetParent !== null && box.width > 0 && Math.round(box.height) < 44;
}).map(el => el.outerHTML.slice(0, 90) + ' h=' + Math.round(el.getBoundingClientRect().height))"""


@pytest.fixture
def demo(live_server):  # type: ignore[no-untyped-def]
    call_command("seed_demo", "--url", live_server.url, stdout=StringIO())
    pho = Merchant.objects.get(slug="pho-ha-noi")
    return {
        "member": Member.objects.of(pho).get(full_name="Nguyễn Văn An").pk,
        "sale": Transaction.objects.filter(merchant=pho, status="confirmed").order_by("pk").first().pk,
    }


def _log_in(page, live_server) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", "admin")  # the demo's merchant admin of Phở Hà Nội
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")


def test_no_back_office_page_scrolls_sideways_at_390_px(page, live_server, demo):
    page.set_viewport_size(PHONE)
    _log_in(page, live_server)
    widths, unnamed, small = {}, {}, {}
    for path in PAGES:
        page.goto(live_server.url + path.format(**demo))
        page.wait_for_load_state("load")
        widths[path] = page.evaluate("document.documentElement.scrollWidth")
        if names := page.evaluate(ICON_ONLY_CONTROLS):
            unnamed[path] = names
        if buttons := page.evaluate(SMALL_BUTTONS):
            small[path] = buttons
    assert {path: width for path, width in widths.items() if width > PHONE["width"]} == {}
    assert unnamed == {}
    assert not small, "\n".join(f"{path}: {button}" for path, buttons in small.items() for button in buttons)


def test_the_menu_buttons_are_named_44_px_targets_and_a_phone_shows_several_members(page, live_server, demo):
    page.set_viewport_size(PHONE)
    _log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/members/member/")
    button = page.locator("[data-tessera-menu]").first
    box = button.bounding_box()
    assert box is not None and box["width"] >= 44 and box["height"] >= 44
    assert button.get_attribute("aria-label")
    assert button.locator(".material-symbols-outlined").first.get_attribute("aria-hidden") == "true"
    button.click()  # opens the menu, whose close button is a named 44 px target too
    close = page.locator("button", has=page.locator(".material-symbols-outlined", has_text="close"))
    expect(close).to_be_visible()
    closing = close.bounding_box()
    assert closing is not None and closing["width"] >= 44 and closing["height"] >= 44
    assert close.get_attribute("aria-label")
    close.click()
    # On a wide screen the same place holds the sidebar's toggle, named too.
    page.set_viewport_size({"width": 1440, "height": 900})
    wide = page.locator("button.tessera-wide-only")
    expect(wide).to_be_visible()
    expect(button).to_be_hidden()
    assert wide.get_attribute("aria-label")
    page.set_viewport_size(PHONE)
    # The list shows more than one member per screen.
    rows = page.locator("#result_list tbody tr")
    first, second = rows.nth(0).bounding_box(), rows.nth(1).bounding_box()
    assert first is not None and second is not None
    assert second["y"] + second["height"] <= PHONE["height"]


def test_the_receipt_prints_vietnamese_in_its_own_monospace_font(page, live_server, demo):
    """Both faces load — Latin, and the one with Vietnamese's stacked diacritics (ở, ấ …) — rather than a
    system font that has no such glyphs (issue 14)."""
    _log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/tessera/cashier/sales/{demo['sale']}/receipt/")
    loaded = page.evaluate(
        """async () => { await document.fonts.ready;
        return [...document.fonts].filter(f => f.family.includes('Tessera Receipt') && f.status === 'loaded')
            .map(f => f.unicodeRange); }"""
    )
    assert any("U+1EA0-1EF9" in ranges.upper() for ranges in loaded), loaded
    assert any(ranges.upper().startswith("U+0-FF") for ranges in loaded), loaded  # as the browser writes it
    family = page.locator(".bo-receipt").evaluate("el => getComputedStyle(el).fontFamily")
    assert family.startswith('"Tessera Receipt"')
