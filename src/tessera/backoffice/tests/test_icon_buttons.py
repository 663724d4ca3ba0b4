"""Issue 14: the back office's icon buttons have names. Unfold's header toggles were spans whose only text
was the icon's ligature ("dock_to_right"); the project's overrides of Unfold's header, back link, add
button, actions menu and search button (src/tessera/templates) name them and hide the icon (B1)."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from tests.factories import MemberFactory, MerchantFactory, staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant():  # type: ignore[no-untyped-def]
    return MerchantFactory(slug="icons", default_language="en")


def _page(merchant, path: str) -> str:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(staff_user(merchant, "merchant_admin").user)
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


def _named_icon_controls(html: str) -> dict[str, str]:
    """Each <button> or <a> holding only an icon: its icon name → its accessible name — its aria-label,
    else its title once the icon is hidden (accname); the icon's ligature if it is not hidden."""
    found = {}
    control = (
        r'<(?:button|a)\b([^>]*)>\s*<span class="material-symbols-outlined[^"]*"([^>]*)>\s*(\w+)\s*</span>'
        r"\s*</(?:button|a)>"
    )
    for attrs, icon_attrs, icon in re.findall(control, html):
        label = re.search(r'aria-label="([^"]*)"', attrs) or re.search(r'title="([^"]*)"', attrs)
        hidden = 'aria-hidden="true"' in icon_attrs
        found[icon] = label.group(1) if label and hidden else icon
    return found


def test_the_member_list_names_its_menu_add_actions_and_search_buttons(merchant):
    html = _page(merchant, "/admin/members/member/")

    controls = _named_icon_controls(html)
    assert "data-tessera-menu" in html
    assert controls["dock_to_right"] in {"Open the menu", "Show or hide the menu"}
    assert controls["close"] == "Close the menu"
    assert controls["add"] == "Add member"
    assert controls["search"] == "Search"
    assert controls["more_horiz"] == "More actions"
    assert "icons.js" in html  # names the remaining icon-only links after their titles


def test_a_change_page_names_its_back_link(merchant):
    member = MemberFactory(merchant=merchant)
    html = _page(merchant, f"/admin/members/member/{member.pk}/change/")

    assert _named_icon_controls(html)["arrow_back"] == "Go back"
