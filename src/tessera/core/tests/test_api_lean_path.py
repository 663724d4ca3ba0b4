"""Requests under /api/v1/ pass the middleware for people's pages by (core.middleware, issue 13: web
CPU); pages keep them all."""

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
