"""Issue 12: the API's HTML docs page can be switched off (TESSERA_API_DOCS_ENABLED, off by default in
production), while /api/v1/openapi.json stays for client generators, health checks and benchmarks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client, override_settings
# Production's static files are hashed by collectstatic, which this probe does not run.
unhashed = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
plain = {**settings.STORAGES, "staticfiles": unhashed}
client = Client()
with override_settings(STORAGES=plain):
    docs = client.get("/api/v1/docs", secure=True)
    schema = client.get("/api/v1/openapi.json", secure=True)
print(json.dumps({
    "enabled": settings.TESSERA_API_DOCS_ENABLED,
    "docs": docs.status_code,
    "schema": schema.status_code,
    "title": schema.json()["info"]["title"] if schema.status_code == 200 else None,
}))
"""


def _serve(tmp_path, **env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "TESSERA_API_DOCS_ENABLED")}
    clean.update(
        DJANGO_SETTINGS_MODULE="tessera.settings",
        TESSERA_VAR_DIR=str(tmp_path),
        SECRET_KEY="x" * 50,
        ALLOWED_HOSTS="testserver",
        **env,
    )
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=clean, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_serves_openapi_json_but_not_the_docs_page(tmp_path):
    answers = _serve(tmp_path, TESSERA_ENV="production")

    assert answers == {"enabled": False, "docs": 404, "schema": 200, "title": "Tessera API"}


def test_production_can_switch_the_docs_page_on(tmp_path):
    answers = _serve(tmp_path, TESSERA_ENV="production", TESSERA_API_DOCS_ENABLED="1")

    assert answers["enabled"] is True and answers["docs"] == 200 and answers["schema"] == 200


def test_development_can_switch_the_docs_page_off(tmp_path):
    answers = _serve(tmp_path, TESSERA_ENV="development", TESSERA_API_DOCS_ENABLED="0")

    assert answers["docs"] == 404 and answers["schema"] == 200


@pytest.mark.django_db
def test_development_serves_the_docs_page_from_our_own_files(client):
    response = client.get("/api/v1/docs")

    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page and "cdn.jsdelivr.net" not in page
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
