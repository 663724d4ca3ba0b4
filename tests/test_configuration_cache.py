"""A merchant's configuration is read from memory, and a change is seen on the very next request
(issue 13 item 4, `tenancy.config`).

The point-of-sale path reads the sales settings and the points policy, the earning rules, the tier program,
the webhook endpoints and the stores from the cache, under the merchant's `config_version`, which every
change renews in its own transaction. Single process on both backends; several worker processes, each
with its own local-memory cache, on PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client

from tessera.members.services import register_member
from tessera.points.models import Policy
from tessera.points.services import save_policy
from tessera.rules.models import EarningRule
from tessera.rules.services import save_rule
from tessera.tenancy.models import ApiKey, Merchant, Store
from tessera.tenancy.services import create_api_key, create_merchant, create_store, revoke_api_key

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+84901234567"
WORKERS = 3


def a_merchant() -> tuple[Merchant, str]:
    merchant = create_merchant(name="Cache", slug=f"cache-{uuid.uuid4().hex[:8]}", currency="VND")
    create_store(merchant=merchant, code="main", name="Main")
    Policy.for_merchant(merchant)  # 1 point per 10,000 đồng
    register_member(merchant=merchant, full_name="Cache", phone=PHONE)
    return merchant, create_api_key(merchant=merchant, name="till").raw_key


def simulate(client: Client, store_code: str = "main") -> Any:
    return client.post(
        "/api/v1/rules/simulate",
        {"phone": PHONE, "amount": 150000, "store_code": store_code},
        content_type="application/json",
    )


def points(client: Client) -> int:
    response = simulate(client)
    assert response.status_code == 200, response.content
    return int(response.json()["points"])


def set_rate(merchant: Merchant, per_amount: int) -> None:
    save_policy(merchant=merchant, earn_per_amount=per_amount)  # as the back office's page saves it


def test_every_change_is_seen_on_the_next_request():
    merchant, key = a_merchant()
    till = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert points(till) == 15
    assert points(till) == 15  # from the cache now

    set_rate(merchant, 5000)
    assert points(till) == 30

    rule = EarningRule(merchant=merchant, name="Double", effect="multiplier", multiplier=Decimal(2))
    save_rule(rule=rule, actor=None)
    assert points(till) == 60

    rule.is_active = False
    save_rule(rule=rule, actor=None)
    assert points(till) == 30

    store = Store.objects.get(merchant=merchant, code="main")
    store.is_active = False  # closed in the back office
    store.save()
    assert simulate(till).json()["code"] == "store_not_found"


def test_a_revoked_key_is_refused_on_the_next_request():
    merchant, key = a_merchant()
    till = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert points(till) == 15

    revoke_api_key(key=ApiKey.objects.get(merchant=merchant))
    assert simulate(till).status_code == 401


# --- several workers --------------------------------------------------------------------------------


def _worker(key: str, commands: multiprocessing.Queue, out: multiprocessing.Queue) -> None:
    """A worker process with its own connection and its own local-memory cache."""
    till = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    try:
        while (command := commands.get(timeout=60)) != "stop":
            response = simulate(till)
            out.put((command, response.status_code, response.json().get("points")))
    except Exception as error:
        out.put(("error", 0, repr(error)))
    finally:
        connections.close_all()


def test_several_workers_see_a_change_and_a_revocation_on_their_next_request():
    if connection.vendor != "postgresql":
        pytest.skip("worker processes share a database on PostgreSQL")
    merchant, key = a_merchant()
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    inboxes = [context.Queue() for _ in range(WORKERS)]
    connections.close_all()  # each worker opens its own connection to the test database
    workers = [context.Process(target=_worker, args=(key, inbox, out)) for inbox in inboxes]
    for worker in workers:
        worker.start()

    def each(command: str) -> list[tuple[str, int, Any]]:
        for inbox in inboxes:
            inbox.put(command)
        return sorted(out.get(timeout=60) for _ in workers)

    try:
        assert each("warm") == [("warm", 200, 15)] * WORKERS
        assert each("cached") == [("cached", 200, 15)] * WORKERS
        set_rate(merchant, 5000)
        assert each("changed") == [("changed", 200, 30)] * WORKERS
        revoke_api_key(key=ApiKey.objects.get(merchant=merchant))
        assert each("revoked") == [("revoked", 401, None)] * WORKERS
    finally:
        for inbox in inboxes:
            inbox.put("stop")
        for worker in workers:
            worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0] * WORKERS
