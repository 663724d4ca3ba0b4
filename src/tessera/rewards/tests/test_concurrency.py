"""Under load (E7, E8, E11): gift stock is never oversold, per-member limits hold, a promo code is used
exactly as often as allowed.

PostgreSQL only: SQLite serialises every writer, so there is no race to lose there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from tests.factories import MemberFactory

from tessera.core.errors import DomainError
from tessera.rewards import services
from tessera.rewards.models import Gift, GiftRedemption, PromoCode, PromoCodeUse
from tessera.rewards.tests.conftest import give_points, points_of
from tessera.rewards.tests.factories import GiftFactory, PromoCodeOfferFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
]

THREADS = 20


def run_together(work: Callable[[int], Any]) -> list[Any]:
    """Run `work(i)` in THREADS threads released at the same instant; results or exceptions, in order."""
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


def test_e7_twenty_members_at_once_never_oversell_five_gifts(merchant, store):
    gift = GiftFactory(merchant=merchant, points_cost=100, stock=5)
    crowd = [MemberFactory(merchant=merchant) for _i in range(THREADS)]
    for member in crowd:
        give_points(member, store, 100)

    results = run_together(lambda i: services.request_gift(member=crowd[i], gift=gift))

    refused = [r for r in results if isinstance(r, DomainError)]
    assert {r.code for r in refused} == {"out_of_stock"}
    assert len(refused) == THREADS - 5
    assert Gift.objects.get(pk=gift.pk).stock == 0
    assert GiftRedemption.objects.count() == 5
    assert sorted(points_of(m) for m in crowd) == [0] * 5 + [100] * (THREADS - 5)


def test_e7_one_member_twenty_times_at_once_stays_within_the_limit(merchant, store, member):
    gift = GiftFactory(merchant=merchant, points_cost=10, stock=100, per_member_limit=3)
    give_points(member, store, 1000)

    results = run_together(lambda _i: services.request_gift(member=member, gift=gift))

    refused = [r for r in results if isinstance(r, DomainError)]
    assert {r.code for r in refused} == {"gift_limit_reached"}
    assert GiftRedemption.objects.filter(member=member).count() == 3
    assert Gift.objects.get(pk=gift.pk).stock == 97
    assert points_of(member) == 970


def test_e8_twenty_concurrent_consumes_use_a_code_exactly_once(merchant, store, member):
    give_points(member, store, 500)
    code = services.redeem_points_for_code(member=member, offer=PromoCodeOfferFactory(merchant=merchant))

    results = run_together(
        lambda i: services.consume_code(
            merchant=merchant, code=code.code, order_ref=f"WEB-{i}", amount=100_000
        )
    )

    used = [r for r in results if isinstance(r, PromoCodeUse)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(used) == 1
    assert {r.code for r in refused} == {"code_used_up"}
    assert len(refused) == THREADS - 1
    assert PromoCodeUse.objects.filter(promo_code=code).count() == 1
    assert PromoCode.objects.get(pk=code.pk).uses_left == 0


def test_e8_twenty_concurrent_retries_of_one_order_are_one_use(merchant, store, member):
    give_points(member, store, 500)
    code = services.redeem_points_for_code(
        member=member, offer=PromoCodeOfferFactory(merchant=merchant, usage_limit=5)
    )

    results = run_together(
        lambda _i: services.consume_code(merchant=merchant, code=code.code, order_ref="WEB-7", amount=100_000)
    )

    assert all(isinstance(r, PromoCodeUse) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert PromoCode.objects.get(pk=code.pk).uses_left == 4


def test_e8_cancels_racing_uses_of_one_code_let_exactly_one_through(merchant, store, member):
    """Issue 15 §7: half the threads cancel the code, half use it; one wins, the others get a 409."""
    give_points(member, store, 500)
    code = services.redeem_points_for_code(member=member, offer=PromoCodeOfferFactory(merchant=merchant))

    def work(i: int) -> Any:
        if i % 2:
            return services.cancel_promo_code(code=PromoCode.objects.get(pk=code.pk))
        return services.consume_code(merchant=merchant, code=code.code, order_ref=f"WEB-{i}", amount=100_000)

    results = run_together(work)

    won = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(won) == 1, results
    assert len(refused) == THREADS - 1
    assert {r.status for r in refused} == {409}
    assert {r.code for r in refused} <= {"code_cancelled", "code_already_used", "code_used_up"}
    code.refresh_from_db()
    if isinstance(won[0], PromoCodeUse):
        assert (code.status, code.reversal_entry_id, points_of(member)) == ("used_up", None, 300)
    else:
        assert PromoCodeUse.objects.filter(promo_code=code).count() == 0
        assert (code.status, points_of(member)) == ("cancelled", 500)
