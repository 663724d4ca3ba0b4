"""Issue 17, rate limits: each key has its scope's limit (`TESSERA_RATE_LIMITS`), a request without a
valid key its address's; past it, 429 problem+json `rate_limited` with `Retry-After`, at no database
statement. With Redis the limit is the installation's: several worker processes share one count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tessera.core import ratelimit
from tessera.tenancy.models import Scope
from tessera.tenancy.services import create_api_key
from tests.factories import StoreFactory

pytestmark = pytest.mark.django_db

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
SRC = Path(ratelimit.__file__).resolve().parents[2]


def _redis_or_skip() -> str:
    try:
        redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_TEST_URL}")
    return REDIS_TEST_URL


@pytest.fixture
def till(merchant):  # type: ignore[no-untyped-def]
    store = StoreFactory(merchant=merchant, code="q1")
    return create_api_key(merchant=merchant, name="Till", store=store)


def _get(raw_key: str):  # type: ignore[no-untyped-def]
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}").get("/api/v1/tiers")


def test_key_over_its_scope_limit_gets_429_problem_with_retry_after(settings, merchant, till):
    settings.TESSERA_RATE_LIMITS = {"pos": "3/minute", "admin": "100/minute"}
    admin = create_api_key(merchant=merchant, name="Admin", scope=Scope.ADMIN).raw_key

    statuses = [_get(till.raw_key).status_code for _ in range(3)]
    with CaptureQueriesContext(connection) as queries:
        refused = _get(till.raw_key)

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    body = refused.json()
    assert body["code"] == "rate_limited" and body["limit"] == 3 and body["window_seconds"] == 60
    assert 1 <= int(refused["Retry-After"]) <= 60 and body["retry_after"] == int(refused["Retry-After"])
    assert len(queries) == 1  # the key's own lookup: counting writes nothing to the database
    assert _get(admin).status_code == 200  # another key, another count


def test_read_only_scope_shares_its_full_scopes_limit(settings, merchant):
    settings.TESSERA_RATE_LIMITS = {"integration": "2/minute"}
    raw = create_api_key(merchant=merchant, name="Reader", scope=Scope.INTEGRATION_READ).raw_key

    assert [_get(raw).status_code for _ in range(3)] == [200, 200, 429]


def test_requests_without_a_valid_key_are_limited_per_address(settings, till):
    settings.TESSERA_RATE_LIMITS = {"anonymous": "2/minute", "pos": "100/minute"}
    guesses = [_get(f"tsk_{uuid.uuid4().hex[:12]}_guess").status_code for _ in range(3)]
    other_address = Client(HTTP_AUTHORIZATION="Bearer tsk_x_y", REMOTE_ADDR="203.0.113.9").get(
        "/api/v1/tiers"
    )

    assert guesses == [401, 401, 429]
    assert other_address.status_code == 401
    assert _get(till.raw_key).status_code == 200  # a valid key counts against itself, not the address


def test_every_operation_documents_its_429(client):
    document = client.get("/api/v1/openapi.json").json()

    for path, item in document["paths"].items():
        for method, operation in item.items():
            answer = operation["responses"]["429"]
            assert "application/problem+json" in answer["content"], (method, path)
            assert answer["headers"]["Retry-After"]["required"] is True


def test_an_unreachable_redis_lets_requests_through(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.TESSERA_RATE_LIMITS = {"pos": "1/minute"}

    for _ in range(3):
        ratelimit.check("till", "pos")  # logged, not refused: a limit must not stop the service


def test_limit_through_redis_answers_429_over_http(settings, till):
    settings.REDIS_URL = _redis_or_skip()
    settings.TESSERA_RATE_LIMITS = {"pos": "2/minute"}

    assert [_get(till.raw_key).status_code for _ in range(3)] == [200, 200, 429]


WORKER = """
import json, os, sys
import django
django.setup()
from tessera.core import ratelimit
passed = 0
for _ in range(int(sys.argv[2])):
    try:
        ratelimit.check(sys.argv[1], "pos", now=float(sys.argv[3]))
        passed += 1
    except ratelimit.RateLimited:
        pass
print(json.dumps(passed))
"""


def test_limit_holds_across_worker_processes_through_redis():
    url = _redis_or_skip()
    who = f"test-{uuid.uuid4().hex}"  # a fresh counter: nothing to clean up before or after
    env = {
        **os.environ,
        "TESSERA_ENV": "development",
        "DJANGO_SETTINGS_MODULE": "tessera.settings",
        "PYTHONPATH": str(SRC),
        "REDIS_URL": url,
        "TESSERA_RATE_LIMITS": "pos=50/hour",
    }
    env.pop("DATABASE_URL", None)
    now = str(time.time())  # one window for every worker, whatever the clock does meanwhile
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, who, "30", now], env=env, stdout=subprocess.PIPE)
        for _ in range(4)
    ]
    passed = [json.loads(worker.communicate(timeout=120)[0]) for worker in workers]

    assert all(worker.returncode == 0 for worker in workers)
    # 120 requests from 4 processes: exactly the limit let through (counted apart, all 120 would pass).
    assert sum(passed) == 50, passed


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_limit_holds_across_http_servers_through_redis(tmp_path):
    """Issue 17: two gunicorn servers of two workers each, one Redis: requests without a valid key,
    spread over both servers and all four workers, are let through exactly to the address's limit, then
    answered 429 problem+json with `Retry-After` — by whichever worker gets them."""
    import urllib.error
    import urllib.request

    url = _redis_or_skip().rsplit("/", 1)[0] + "/14"
    redis.Redis.from_url(url).flushdb()  # this test's own database: the address's counter starts at 0
    env = {
        **os.environ,
        "TESSERA_ENV": "development",
        "DJANGO_SETTINGS_MODULE": "tessera.settings",
        "PYTHONPATH": str(SRC),
        "REDIS_URL": url,
        "TESSERA_VAR_DIR": str(tmp_path),
        "TESSERA_RATE_LIMITS": "anonymous=40/hour",
    }
    env.pop("DATABASE_URL", None)  # no request here reaches the database
    gunicorn = Path(sys.executable).with_name("gunicorn")
    ports = [_free_port(), _free_port()]
    servers = [
        subprocess.Popen(
            [str(gunicorn), "tessera.wsgi:application", "--workers", "2", "--bind", f"127.0.0.1:{port}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]

    def get(port: int) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/lookup?phone=1", headers={"Authorization": "Bearer nope"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310  (http, built here)
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as refused:
            return refused.code, dict(refused.headers), refused.read()

    try:
        for port in ports:  # up: openapi.json answers without a key and without counting
            for _ in range(120):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=30)
                    break
                except OSError:
                    time.sleep(0.5)
        answers = [get(ports[i % 2]) for i in range(100)]
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)

    statuses = [status for status, _, _ in answers]
    assert statuses == [401] * 40 + [429] * 60, statuses
    _, headers, body = answers[-1]
    assert headers["Content-Type"] == "application/problem+json"
    assert int(headers["Retry-After"]) >= 1
    assert json.loads(body)["code"] == "rate_limited"
