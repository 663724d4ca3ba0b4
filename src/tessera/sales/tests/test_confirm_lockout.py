"""Issue 12 (E2): wrong PINs, codes and staff passwords are counted so that concurrency never buys an
extra guess. The counting on any database; the races on PostgreSQL, with real threads and commits."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.db import connection
from django.test import RequestFactory
from tests.factories import staff_user

from tessera.core.errors import DomainError
from tessera.members import services as members
from tessera.portal import services as portal
from tessera.sales import services
from tessera.sales.models import ConfirmationAttempt, SalesSettings, Transaction
from tessera.sales.services import ConfirmationLocked, SaleLine
from tessera.sales.tests.conftest import PIN

THREADS = 12


def postgres_only(test: Callable[..., Any]) -> Callable[..., Any]:
    """Real commits and row locks: SQLite serialises every writer, so there is no race to lose there."""
    test = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")(test)
    test = pytest.mark.django_db(transaction=True)(test)
    return pytest.mark.postgres(test)


def _sale(merchant, store, member) -> Transaction:
    return services.create_transaction(
        merchant=merchant,
        store=store,
        member=member,
        lines=[SaleLine(name="Cà phê sữa đá", quantity=1, unit_price=29000)],
    )


class Counter:
    """Wraps a checking function and counts the checks that really ran (thread-safe)."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function, self.calls, self.lock = function, 0, threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            self.calls += 1
        return self.function(*args, **kwargs)


@pytest.fixture
def pin_checks(monkeypatch):
    counter = Counter(members.check_member_pin)
    monkeypatch.setattr(members, "check_member_pin", counter)
    return counter


def run_together(work: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS

    def runner(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db
def test_e2_once_the_member_is_locked_no_sale_checks_another_pin(merchant, store, member, pin_checks):
    limit = SalesSettings.for_merchant(merchant).confirm_attempt_limit
    for _ in range(limit):
        with pytest.raises(DomainError) as wrong:
            services.confirm_transaction(transaction=_sale(merchant, store, member), method="pin", pin="0000")
        assert wrong.value.code == "wrong_pin"

    with pytest.raises(ConfirmationLocked) as locked:  # even the right PIN, on a fresh sale
        services.confirm_transaction(transaction=_sale(merchant, store, member), method="pin", pin=PIN)

    assert locked.value.detail == {"scope": "member"}
    assert pin_checks.calls == limit
    assert ConfirmationAttempt.objects.filter(member=member, succeeded=False).count() == limit


@postgres_only
def test_e2_twelve_wrong_pins_at_once_on_twelve_sales_check_at_most_the_limit(
    merchant, store, member, pin_checks
):
    limit = SalesSettings.for_merchant(merchant).confirm_attempt_limit
    sales = [_sale(merchant, store, member) for _ in range(THREADS)]

    results = run_together(
        lambda i: services.confirm_transaction(transaction=sales[i], method="pin", pin="0000")
    )

    codes = sorted(r.code for r in results)
    assert codes == sorted(["wrong_pin"] * limit + ["confirmation_locked"] * (THREADS - limit))
    assert pin_checks.calls == limit
    assert ConfirmationAttempt.objects.filter(member=member, succeeded=False).count() == limit
    with pytest.raises(ConfirmationLocked):
        services.confirm_transaction(transaction=_sale(merchant, store, member), method="pin", pin=PIN)


@postgres_only
def test_e2_twelve_wrong_staff_passwords_at_once_check_at_most_the_axes_limit(merchant, monkeypatch):
    staff_user(merchant, "cashier", username="second")
    counter = Counter(ModelBackend.authenticate)
    monkeypatch.setattr(ModelBackend, "authenticate", lambda backend, *a, **k: counter(backend, *a, **k))

    def attempt(i: int) -> Any:
        request = RequestFactory().post("/api/v1/transactions/1/confirm", REMOTE_ADDR="203.0.113.9")
        return services.authenticate_second_staff(request=request, username="second", password=f"wrong-{i}")

    results = run_together(attempt)

    assert results == [None] * THREADS
    assert counter.calls == settings.AXES_FAILURE_LIMIT


@postgres_only
def test_g1_twelve_wrong_portal_passwords_at_once_check_at_most_the_limit(merchant, member, monkeypatch):
    portal.set_member_password(member=member, password="pho-bo-tai-2024")
    counter = Counter(portal.check_password)
    monkeypatch.setattr(portal, "check_password", counter)

    results = run_together(
        lambda i: portal.check_password_login(merchant=merchant, phone=str(member.phone), password=f"no-{i}")
    )

    assert sorted({type(r).__name__ for r in results}) == ["InvalidLogin", "LoginLocked"]
    assert counter.calls == portal.MAX_FAILURES
