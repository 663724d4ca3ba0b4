"""Login throttling (B4) and the staff's language (localised back office)."""

from __future__ import annotations

import pytest
from django.conf import global_settings, settings
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from tests.factories import MerchantFactory, staff_user

from tessera.tenancy.middleware import StaffLocaleMiddleware

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # what tests.factories.staff_user sets


def _login(client, username, password):
    return client.post(
        reverse("admin:login"), {"username": username, "password": password, "next": "/admin/"}
    )


def test_b4_five_failed_logins_lock_the_account_for_that_address(client, merchant):
    staff_user(merchant, "cashier", username="lan")

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "lan", "wrong").status_code == 200
    assert _login(client, "lan", "wrong").status_code == 429  # the fifth failure locks

    locked = _login(client, "lan", PASSWORD)

    assert locked.status_code == 429
    assert "tenancy/locked_out.html" in [t.name for t in locked.templates]
    assert "_auth_user_id" not in client.session
    # Another address is not locked out by this one's attempts.
    elsewhere = client.post(
        reverse("admin:login"), {"username": "lan", "password": PASSWORD}, REMOTE_ADDR="10.0.0.7"
    )
    assert elsewhere.status_code == 302


def test_b4_a_successful_login_resets_the_failure_count(client, merchant):
    staff_user(merchant, "cashier", username="lan")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "lan", "wrong")
    assert _login(client, "lan", PASSWORD).status_code == 302
    client.logout()

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "lan", "wrong")

    assert _login(client, "lan", PASSWORD).status_code == 302


def test_b4_passwords_are_stored_hashed(merchant, settings):
    # The suite hashes with MD5 for speed (conftest.py); production uses Django's default, PBKDF2.
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    staff = staff_user(merchant, "cashier")

    assert PASSWORD not in staff.user.password
    assert staff.user.password.startswith("pbkdf2_sha256$")
    assert staff.user.check_password(PASSWORD)


def _html_lang(response) -> str:
    html = response.content.decode()
    start = html.index("<html lang=") + len('<html lang="')
    return html[start : html.index('"', start)]


@pytest.mark.parametrize(("language", "expected"), [("vi", "vi"), ("zh-hans", "zh-hans"), ("en", "en")])
def test_staff_work_in_their_merchants_default_language(client, language, expected):
    merchant = MerchantFactory(default_language=language)
    client.force_login(staff_user(merchant, "merchant_admin").user)

    response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    assert _html_lang(response) == expected


def test_a_staff_members_own_language_choice_wins(client, merchant):
    client.force_login(staff_user(merchant, "merchant_admin").user)
    assert _html_lang(client.get(reverse("admin:index"))) == "vi"

    # The switcher in Unfold's user menu posts here.
    client.post(reverse("set_language"), {"language": "en", "next": "/admin/"})

    assert _html_lang(client.get(reverse("admin:index"))) == "en"


def test_the_language_switcher_is_shown(client, merchant):
    client.force_login(staff_user(merchant, "merchant_admin").user)

    html = client.get(reverse("admin:index")).content.decode()

    assert reverse("set_language") in html
    assert 'value="zh-hans"' in html and 'value="vi"' in html


def test_logging_in_from_the_bare_login_page_lands_on_the_dashboard(client, merchant):
    staff_user(merchant, "cashier", username="lan")

    response = client.post(reverse("admin:login"), {"username": "lan", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


def test_staff_see_times_in_their_merchants_time_zone(rf, merchant):
    """DESIGN: times are stored in UTC and shown in the merchant's time zone (Asia/Ho_Chi_Minh, UTC+7)."""
    seen = {}

    def view(request):
        seen["zone"] = timezone.get_current_timezone_name()
        return HttpResponse()

    request = rf.get("/admin/")
    request.user = staff_user(merchant, "cashier").user
    StaffLocaleMiddleware(view)(request)

    assert seen["zone"] == "Asia/Ho_Chi_Minh"
    assert timezone.get_current_timezone_name() == "UTC"  # nothing leaks past the request
