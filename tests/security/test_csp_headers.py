"""Issue 12: every page carries a Content-Security-Policy. Strict (scripts only from this site or with
the page's nonce, no eval, no inline handlers) on the member portal, the scanner and the widget; on the
back office only what its framework needs (Alpine.js: 'unsafe-eval'; Unfold: inline styles). The pages
still working under these policies is proven in a browser (tests/browser/test_csp.py)."""

from __future__ import annotations

import re

import pytest

from tessera.portal import services as portal
from tests.factories import MerchantFactory, StoreFactory, staff_user

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split("; ")}


def nonce_of(response) -> str:
    match = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    assert match, response["Content-Security-Policy"]
    return match.group(1)


def assert_strict(policy: dict[str, list[str]]) -> None:
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert "'unsafe-inline'" not in policy["style-src"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]


def test_the_portal_login_page_is_strict_and_its_one_style_block_carries_the_nonce(client):
    merchant = MerchantFactory(slug="csp-portal")

    response = client.get(f"/m/{merchant.slug}/login/")

    assert response.status_code == 200
    policy = directives(response)
    assert_strict(policy)
    assert policy["script-src"] == ["'self'", f"'nonce-{nonce_of(response)}'"]
    page = response.content.decode()
    assert f'<style nonce="{nonce_of(response)}">' in page
    assert "onchange=" not in page and "style=" not in page


def test_each_page_gets_a_new_nonce(client):
    merchant = MerchantFactory(slug="csp-nonce")

    first = client.get(f"/m/{merchant.slug}/login/")
    second = client.get(f"/m/{merchant.slug}/login/")

    assert nonce_of(first) != nonce_of(second)


def test_the_scanner_is_strict(client):
    merchant = MerchantFactory(slug="csp-scanner")
    store = StoreFactory(merchant=merchant)
    cashier = staff_user(merchant, "cashier", stores=[store])
    client.force_login(cashier.user, backend="django.contrib.auth.backends.ModelBackend")

    response = client.get("/staff/scan/")

    assert response.status_code == 200
    assert_strict(directives(response))
    assert f'<style nonce="{nonce_of(response)}">' in response.content.decode()


def test_the_widget_script_and_its_api_answer_under_the_strict_policy(client):
    merchant = MerchantFactory(slug="csp-widget")
    created = portal.rotate_widget_secret(merchant=merchant)
    portal.update_widget_settings(
        widget=created.settings, allowed_origins=["https://shop.example"], is_enabled=True
    )

    script = client.get(f"/m/{merchant.slug}/widget.js")

    assert script.status_code == 200
    assert_strict(directives(script))
    assert "eval(" not in script.content.decode() and "new Function" not in script.content.decode()


def test_the_back_office_allows_eval_for_alpine_but_no_inline_script(client):
    response = client.get("/admin/login/")

    policy = directives(response)
    assert policy["script-src"] == ["'self'", "'unsafe-eval'"]  # no nonce asked for on this page
    assert "'unsafe-inline'" not in policy["script-src"]
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
