"""Issue 14: every page names the product and has an icon — no Django default title ("Site quản trị hệ
thống"), no 404 for /favicon.ico."""

from __future__ import annotations

import unicodedata

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

pytestmark = pytest.mark.django_db


def test_favicon_ico_leads_to_the_icon_that_exists():
    response = Client().get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"].endswith("favicon.svg")
    assert finders.find("tessera/favicon.svg")


@pytest.mark.parametrize("language", ["vi", "zh-hans", "en"])
def test_the_login_page_has_the_icon_and_the_products_name_not_djangos(language):
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    page = client.get("/admin/login/").content.decode()

    assert 'rel="icon"' in page and "favicon.svg" in page
    assert "<title>" in page and "Tessera" in page.split("<title>")[1].split("</title>")[0]
    for default in ("Site quản trị", "Django", "站点管理"):
        assert default not in page


def test_pages_outside_the_admin_have_the_icon(client, merchant):
    page = client.get(f"/m/{merchant.slug}/login/").content.decode()
    assert 'rel="icon"' in page


def test_the_login_page_switches_language_before_signing_in():
    """An English browser gets the English login page, with a switch that makes it Vietnamese."""
    client = Client(headers={"accept-language": "en"})
    page = unicodedata.normalize("NFC", client.get("/admin/login/").content.decode())
    assert 'id="login-languages"' in page and "Tiếng Việt" in page and "简体中文" in page

    switched = client.post("/i18n/setlang/", {"language": "vi", "next": "/admin/login/"}, follow=True)

    assert switched.redirect_chain[-1][0] == "/admin/login/"
    body = switched.content.decode()
    assert "Đăng nhập" in body and "Log in" not in body
