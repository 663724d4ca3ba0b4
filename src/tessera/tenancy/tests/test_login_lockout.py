"""Staff login lockout behind a reverse proxy, and per address (B4, issue 12), on the admin login page."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.urls import reverse
from tests.factories import staff_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # what tests.factories.staff_user sets
PROXY = "10.0.0.2"  # the reverse proxy, as gunicorn sees it


def _login(client, username, password, **headers):
    return client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": "/admin/"},
        **headers,
    )


def test_b4_without_a_trusted_proxy_a_forged_forwarded_for_does_not_escape_the_lockout(
    client, merchant, settings
):
    settings.TRUSTED_PROXY_COUNT = 0
    staff_user(merchant, "cashier", username="lan")

    answers = [
        _login(client, "lan", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
        for n in range(settings.AXES_FAILURE_LIMIT)
    ]
    locked = _login(client, "lan", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.1")

    assert answers == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    assert locked.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}


def test_b4_behind_a_trusted_proxy_each_forwarded_client_is_counted_separately(client, merchant, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    staff_user(merchant, "cashier", username="lan")
    first = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "203.0.113.5"}
    # The client wrote the left entry itself; the proxy appended the address it really came from.
    second = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "203.0.113.5, 198.51.100.9"}

    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "lan", "wrong", **first)

    assert _login(client, "lan", PASSWORD, **first).status_code == 429
    assert _login(client, "lan", PASSWORD, **second).status_code == 302
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["203.0.113.5"]


def test_b4_behind_a_trusted_proxy_a_missing_or_broken_forwarded_for_counts_the_proxy_address(
    client, merchant, settings
):
    settings.TRUSTED_PROXY_COUNT = 2
    _login(client, "lan", "wrong", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.5")  # too short
    _login(client, "lan", "wrong", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="nonsense, 10.0.0.1")
    _login(client, "lan", "wrong", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.7, 10.0.0.1")

    assert sorted(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["10.0.0.2", "203.0.113.7"]


def test_b4_many_user_names_from_one_address_are_stopped_by_the_per_address_limit(client, merchant, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 12
    staff_user(merchant, "cashier", username="lan")

    answers = [_login(client, f"guess{n}", "wrong").status_code for n in range(30)]

    # None of the 30 user names failed more than once: only the per-address threshold can stop them.
    assert answers == [200] * 11 + [429] * 19
    assert _login(client, "lan", PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session
    # Another address (another shop) is not affected.
    assert _login(client, "lan", PASSWORD, REMOTE_ADDR="10.0.0.7").status_code == 302


def test_b4_the_per_address_limit_is_far_above_the_per_user_one(settings):
    assert settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS >= 10 * settings.AXES_FAILURE_LIMIT


def test_b4_tills_behind_one_proxy_are_told_apart_by_the_per_address_limit(client, merchant, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 6
    staff_user(merchant, "cashier", username="lan")
    spraying = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "203.0.113.66"}
    till = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "198.51.100.20"}

    for n in range(6):
        _login(client, f"guess{n}", "wrong", **spraying)

    assert _login(client, "lan", PASSWORD, **spraying).status_code == 429
    assert _login(client, "lan", PASSWORD, **till).status_code == 302
