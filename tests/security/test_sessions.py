"""Issue 12 (B4, G1): a staff session ends after TESSERA_STAFF_IDLE_MINUTES without a request, at the
cost of one session write a minute at most; the member portal keeps its member in its own cookie under
/m/, so signing in or out of one never touches the other."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import timezone

from tessera.core.security import StaffIdleTimeoutMiddleware
from tessera.portal import services as portal
from tessera.portal.session import session_key
from tests.factories import MemberFactory, MerchantFactory, staff_user

pytestmark = pytest.mark.django_db

STAFF_PAGE = "/admin/password_change/"
MEMBER_PASSWORD = "a long member password 42"
PORTAL_COOKIE = "tessera_member"


class Clock:
    def __init__(self) -> None:
        self.now = timezone.now()

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    """Django's clock, moved by hand: the session store's expiry and the idle check both read it."""
    moved = Clock()
    monkeypatch.setattr(timezone, "now", lambda: moved.now)
    return moved


@pytest.fixture
def merchant():
    return MerchantFactory(slug="pho-sessions", default_language="en")


@pytest.fixture
def staff(client, merchant):
    membership = staff_user(merchant, "merchant_admin")
    client.force_login(membership.user, backend="django.contrib.auth.backends.ModelBackend")
    return membership


@pytest.fixture
def member(merchant):
    member = MemberFactory(merchant=merchant, phone="+84903123456")
    portal.set_member_password(member=member, password=MEMBER_PASSWORD)
    return member


def portal_sign_in(client, merchant):
    return client.post(f"/m/{merchant.slug}/login/", {"phone": "0903123456", "password": MEMBER_PASSWORD})


def test_a_staff_session_ends_after_the_idle_minutes(client, clock, staff):
    assert settings.TESSERA_STAFF_IDLE_MINUTES == 30
    assert client.get(STAFF_PAGE).status_code == 200

    clock.advance(minutes=31)
    response = client.get(STAFF_PAGE)

    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_a_staff_member_at_work_stays_signed_in_past_the_idle_minutes(client, clock, staff):
    for _ in range(6):  # two hours, a request every twenty minutes
        assert client.get(STAFF_PAGE).status_code == 200
        clock.advance(minutes=20)

    assert client.get(STAFF_PAGE).status_code == 200


def test_the_idle_timeout_holds_even_with_a_long_session_lifetime(client, clock, settings, staff):
    """The check does not rely on the stored session's expiry: a two-week cookie still ends when idle."""
    settings.SESSION_COOKIE_AGE = 14 * 24 * 3600
    assert client.get(STAFF_PAGE).status_code == 200

    clock.advance(minutes=31)

    assert client.get(STAFF_PAGE).status_code == 302


def test_the_staff_session_is_written_at_most_once_a_minute(client, clock, staff):
    first = client.get(STAFF_PAGE)
    clock.advance(seconds=30)
    second = client.get(STAFF_PAGE)
    clock.advance(seconds=31)
    third = client.get(STAFF_PAGE)

    assert first.cookies["sessionid"]["max-age"] == 30 * 60  # the cookie lapses with the idle timeout
    assert "sessionid" not in second.cookies
    assert "sessionid" in third.cookies


@pytest.mark.parametrize("path", ["/api/v1/members", "/hooks/shop/orders", "/m/pho/"])
def test_the_idle_check_reads_no_session_for_the_api_the_webhooks_or_the_portal(path):
    session = SessionStore()
    session.create()
    request = RequestFactory().get(path)
    request.session = SessionStore(session.session_key)

    StaffIdleTimeoutMiddleware(lambda r: HttpResponse())(request)

    assert request.session.accessed is False


def test_the_portal_keeps_its_member_in_its_own_cookie_under_m(client, merchant, member):
    response = portal_sign_in(client, merchant)

    assert response.status_code == 302 and response["Location"] == f"/m/{merchant.slug}/"
    cookie = response.cookies[PORTAL_COOKIE]
    assert cookie["path"] == "/m/" and cookie["httponly"] and cookie["samesite"] == "Lax"
    assert cookie["max-age"] == 14 * 24 * 3600  # a member stays signed in on their phone
    assert "sessionid" not in response.cookies
    assert client.get(f"/m/{merchant.slug}/").status_code == 200


def test_signing_out_of_the_portal_leaves_the_staff_session_alone(client, merchant, staff, member):
    portal_sign_in(client, merchant)

    client.post(f"/m/{merchant.slug}/logout/")

    assert client.get(f"/m/{merchant.slug}/").status_code == 302
    assert client.get(STAFF_PAGE).status_code == 200


def test_signing_out_of_the_back_office_leaves_the_member_signed_in(client, merchant, staff, member):
    portal_sign_in(client, merchant)

    client.post("/admin/logout/")

    assert client.get(STAFF_PAGE).status_code == 302
    assert client.get(f"/m/{merchant.slug}/").status_code == 200


def test_a_member_key_in_the_staff_session_signs_nobody_in_at_the_portal(client, merchant, staff, member):
    staff_session = client.session
    staff_session[session_key(merchant)] = member.pk
    staff_session.save()

    response = client.get(f"/m/{merchant.slug}/")

    assert response.status_code == 302 and response["Location"] == f"/m/{merchant.slug}/login/"
