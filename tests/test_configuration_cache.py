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


def test_a_key_is_taken_from_memory_while_nothing_changed_and_read_again_when_it_changed():
    """The key, its merchant and its store come from this process's memory after the first request: one
    short statement says the key is still good and names the merchant's version. A change to the key
    itself (its scope, its store) gives the merchant a new version, seen on the next request."""
    from django.db.models.signals import post_init
    from django.test.utils import CaptureQueriesContext

    from tessera.tenancy.services import authenticate_api_key

    merchant, key = a_merchant()
    first = authenticate_api_key(raw_key=key)
    assert first is not None
    first.merchant.name = "Changed by a request, never saved"
    with CaptureQueriesContext(connection) as queries:
        again = authenticate_api_key(raw_key=key)
    assert again is not None and again is not first and again.merchant is not first.merchant
    assert [q["sql"].split()[0] for q in queries] == ["SELECT"] and "prefix" in queries[0]["sql"]
    assert again.merchant.name == "Cache" and again.merchant.pk == merchant.pk and not again._state.adding
    assert again.store is None and again.scope == "integration"
    assert again.merchant.config_version == Merchant.objects.get(pk=merchant.pk).config_version

    # What Django's own reading makes of the same rows (the instance any receiver of post_init sees).
    post_init.connect(lambda **kwargs: None, weak=False, dispatch_uid="test-key-read")
    try:
        read = ApiKey.objects.select_related("merchant", "store").get(pk=again.pk)
    finally:
        post_init.disconnect(dispatch_uid="test-key-read")
    for ours, django in ((again, read), (again.merchant, read.merchant)):
        assert {k: v for k, v in vars(ours).items() if k != "_state"} == {
            k: v for k, v in vars(django).items() if k != "_state"
        }

    stored = ApiKey.objects.get(merchant=merchant)
    stored.scope = "integration:read"  # read only from now on
    stored.save()
    assert simulate(Client(HTTP_AUTHORIZATION=f"Bearer {key}")).status_code == 403

    stored.scope, stored.store = "pos", Store.objects.get(merchant=merchant, code="main")
    stored.save()
    till = authenticate_api_key(raw_key=key)
    assert till is not None and till.store is not None and till.store.code == "main"
    assert till.store.merchant is till.merchant  # one merchant instance per request


def test_the_keys_kept_in_memory_are_bounded_and_a_revoked_one_is_forgotten(monkeypatch):
    from tessera.tenancy import services

    monkeypatch.setattr(services, "KNOWN_KEYS", 1)
    monkeypatch.setattr(services, "_known_keys", {})
    first, first_key = a_merchant()
    _second, second_key = a_merchant()
    assert services.authenticate_api_key(raw_key=first_key) is not None
    assert services.authenticate_api_key(raw_key=second_key) is not None  # the first one is let go
    assert [k.version for k in services._known_keys.values()] == [
        Merchant.objects.get(pk=_second.pk).config_version
    ]
    assert services.authenticate_api_key(raw_key=first_key) is not None  # read whole again
    revoke_api_key(key=ApiKey.objects.get(merchant=first))
    assert services.authenticate_api_key(raw_key=first_key) is None
    assert first_key.split("_")[1] not in services._known_keys


def test_a_merchant_switched_off_in_bulk_is_refused_on_the_next_request():
    """`is_active` is checked by the statement itself, even when no save renewed the version."""
    merchant, key = a_merchant()
    till = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert points(till) == 15
    Merchant.objects.filter(pk=merchant.pk).update(is_active=False)
    assert simulate(till).status_code == 401


def test_a_key_notes_its_use_once_a_minute_not_on_every_request():
    from datetime import timedelta

    from tessera.tenancy.services import authenticate_api_key

    merchant, key = a_merchant()
    assert authenticate_api_key(raw_key=key) is not None
    used = ApiKey.objects.get(merchant=merchant).last_used_at
    assert used is not None
    assert authenticate_api_key(raw_key=key) is not None
    assert ApiKey.objects.get(merchant=merchant).last_used_at == used
    ApiKey.objects.filter(merchant=merchant).update(last_used_at=used - timedelta(minutes=2))
    assert authenticate_api_key(raw_key=key) is not None
    assert ApiKey.objects.get(merchant=merchant).last_used_at > used


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
