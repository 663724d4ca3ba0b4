"""Requests under /api/v1/ go past the middleware for people's pages straight to their view
(core.middleware.ApiShortcut, issue 13: web CPU); pages keep them all."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_an_api_request_has_no_session_user_or_csrf_and_keeps_its_headers(client):
    response = client.get("/api/v1/lookup?phone=0901234567")

    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/problem+json")
    assert response["X-Frame-Options"] == "DENY"
    assert "Cookie" not in response.get("Vary", "")  # the answer depends on no cookie
    request = response.wsgi_request
    assert not hasattr(request, "session") and not hasattr(request, "user")
    assert not hasattr(request, "_messages") and "csrftoken" not in response.cookies


def test_a_page_still_has_its_session_user_and_csrf_token(client):
    response = client.get(reverse("admin:login"))

    request = response.wsgi_request
    assert hasattr(request, "session") and hasattr(request, "user") and hasattr(request, "_messages")
    assert "csrftoken" in response.cookies


@pytest.mark.django_db(transaction=True)  # autocommit, as under the web server
def test_an_api_request_spends_no_round_trip_on_the_health_check_and_a_page_keeps_it(monkeypatch):
    """As under gunicorn (WSGIHandler sends request_started, Django's close_old_connections runs): the
    API skips CONN_HEALTH_CHECKS' SELECT 1; a page still checks its connection
    (core.middleware.NoHealthCheckForApi)."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection
    from django.test import RequestFactory
    from tests.factories import MerchantFactory, StoreFactory

    from tessera.tenancy.services import create_api_key

    merchant = MerchantFactory()
    key = create_api_key(merchant=merchant, name="till", store=StoreFactory(merchant=merchant)).raw_key
    connection.ensure_connection()
    assert connection.health_check_enabled
    checks = []
    real = connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or real())
    handler = WSGIHandler()

    def served(path: str, **headers: str) -> tuple[int, list[int]]:
        checks.clear()
        environ = RequestFactory().get(path, **headers).environ
        response = handler(environ, lambda *args: None)
        response.close()
        return response.status_code, list(checks)

    lookup = "/api/v1/lookup?phone=0901234567"
    # Django also checks a connection that saw an error (an earlier test's), once: not the health check.
    served(lookup, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert served(lookup, HTTP_AUTHORIZATION=f"Bearer {key}") == (404, [])
    assert served(reverse("portal:home", args=[merchant.slug]))[1] == [1]


def test_the_served_application_freezes_what_it_loaded():
    """tessera.wsgi, as gunicorn imports it in each worker: the application, its middleware and its
    URLconf loaded, then frozen out of the cyclic collector's full collections (issue 13: web CPU)."""
    import subprocess
    import sys

    script = (
        "import gc, sys; from tessera.wsgi import application; "
        "assert 'tessera.urls' in sys.modules; print(gc.get_freeze_count())"
    )
    command = [sys.executable, "-c", script]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603 (fixed)
    assert int(out) > 100_000


def test_the_shortcut_needs_the_end_of_the_list(settings):
    """ApiShortcut takes the view from ViewReached, last in MIDDLEWARE: without it Django refuses to
    start rather than send API requests down the people's middleware."""
    from django.core.exceptions import ImproperlyConfigured
    from django.core.handlers.base import BaseHandler

    settings.MIDDLEWARE = [path for path in settings.MIDDLEWARE if not path.endswith(".ViewReached")]
    with pytest.raises(ImproperlyConfigured, match="ViewReached"):
        BaseHandler().load_middleware()
