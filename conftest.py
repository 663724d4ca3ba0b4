"""Fixtures every test may use. Domain tests live beside their code; cross-domain ones in tests/."""

from __future__ import annotations

import os

import pytest

# Browser tests talk to a live server from Playwright's event loop; Django must allow sync DB calls there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):  # type: ignore[no-untyped-def]
    """PBKDF2 is slow by design; tests hash many staff passwords and PINs and test no hash strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _english_unless_asked():
    """Each test starts in English: a request's language stays active in its thread after the response."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _huey_immediate(settings):  # type: ignore[no-untyped-def]
    """Tasks run inline in tests, so their effects can be asserted."""
    from huey.contrib.djhuey import HUEY

    previous = HUEY.immediate
    HUEY.immediate = True
    yield
    HUEY.immediate = previous


@pytest.fixture(autouse=True)
def _fresh_rate_limits():  # type: ignore[no-untyped-def]
    """Each test starts with no request counted (the in-process rate-limit counters, issue 17)."""
    from tessera.core.ratelimit import reset_local_counters

    reset_local_counters()


@pytest.fixture
def merchant(db):  # type: ignore[no-untyped-def]
    from tests.factories import MerchantFactory

    return MerchantFactory(name="Phở Hà Nội", slug="pho-ha-noi")


@pytest.fixture
def other_merchant(db):  # type: ignore[no-untyped-def]
    from tests.factories import MerchantFactory

    return MerchantFactory(
        name="茶馆 Tea House",
        slug="tea-house",
        currency="CNY",
        time_zone="Asia/Shanghai",
        default_language="zh-hans",
    )
