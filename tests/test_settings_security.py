"""Safe defaults (B4, "Safe"): production refuses to start without a secret and turns on HTTPS-only
cookies and HSTS; every response carries the security headers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({name: getattr(settings, name, None) for name in (
    "DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_HTTPONLY", "SECURE_CONTENT_TYPE_NOSNIFF", "X_FRAME_OPTIONS")}))
"""


def _settings_in(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "SECURE_COOKIES")}
    clean.update(DJANGO_SETTINGS_MODULE="tessera.settings", TESSERA_VAR_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-c", PROBE], env=clean, capture_output=True, text=True, timeout=60, check=False
    )


def test_production_without_a_secret_key_does_not_start(tmp_path):
    result = _settings_in(tmp_path, TESSERA_ENV="production")

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_is_secure_by_default(tmp_path):
    result = _settings_in(tmp_path, TESSERA_ENV="production", SECRET_KEY="x" * 50)

    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] is True and values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True


def test_an_unset_environment_means_production(tmp_path):
    """Forgetting TESSERA_ENV must fail safe: it is production, so a missing secret stops the start."""
    clean_env = {k: v for k, v in os.environ.items() if k != "TESSERA_ENV"}
    clean_env.pop("SECRET_KEY", None)
    clean_env.update(DJANGO_SETTINGS_MODULE="tessera.settings", TESSERA_VAR_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=clean_env, capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


@pytest.mark.django_db
def test_responses_carry_the_security_headers(client):
    response = client.get("/admin/login/")

    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response.cookies["csrftoken"]["samesite"] == "Lax"
