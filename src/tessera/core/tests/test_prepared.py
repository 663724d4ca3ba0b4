"""A prepared query returns what its queryset returns, for any values (core.prepared, issue 13)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.factories import MemberFactory, MerchantFactory

from tessera.cards.balances import own_accounts_read, with_own_accounts
from tessera.core.prepared import Prepared
from tessera.ledger import services as ledger
from tessera.ledger.models import AccountKind
from tessera.members.models import Member
from tessera.tenancy.models import ApiKey

pytestmark = pytest.mark.django_db


def members_named(merchant_id: int, phone: str, now: datetime):  # type: ignore[no-untyped-def]
    members = Member.objects.filter(merchant_id=merchant_id, phone=phone, erased_at__isnull=True)
    return with_own_accounts(members.select_related("merchant"), now=now).order_by("pk")


prepared = Prepared(members_named, merchant_id=int, phone=str, now=datetime)


def rows(members: list[Member]) -> list[tuple[object, ...]]:
    out = []
    for member in members:
        points, stored = own_accounts_read(member)
        out.append(
            (
                member.pk,
                member.full_name,
                member.merchant.slug,
                points and (points.pk, points.balance, points.live_balance, points.spendable),
                stored and stored.pk,
            )
        )
    return out


def test_the_same_rows_as_the_queryset_for_every_value():
    merchant, other = MerchantFactory(), MerchantFactory()
    members = [MemberFactory(merchant=merchant) for _ in range(3)] + [MemberFactory(merchant=other)]
    account = ledger.open_account(merchant=merchant, kind=AccountKind.POINTS, member=members[0])
    ledger.credit(account=account, amount=70, expires_at=timezone.now() + timedelta(days=1))
    now = timezone.now()

    for member in members:
        for merchant_id in (merchant.pk, other.pk):
            for at in (now, now + timedelta(days=2)):  # the lot lapses between the two
                expected = rows(list(members_named(merchant_id, str(member.phone), at)))
                assert rows(prepared(merchant_id=merchant_id, phone=str(member.phone), now=at)) == expected
    assert rows(prepared(merchant_id=merchant.pk, phone="+84999999999", now=now)) == []
    [read] = prepared(merchant_id=merchant.pk, phone=str(members[0].phone), now=now + timedelta(days=2))
    assert own_accounts_read(read)[0].live_balance == 0  # type: ignore[union-attr]


@settings(max_examples=40, deadline=None)
@given(text=st.text(max_size=30), number=st.integers(min_value=-(2**62), max_value=2**62))
def test_any_value_is_a_parameter_never_sql(text, number):
    """Values go to the driver as parameters: quotes, NULs, percent signs change nothing."""
    query = Prepared(
        lambda prefix, pk: ApiKey.objects.filter(prefix=prefix).exclude(pk=pk).order_by("pk"),
        prefix=str,
        pk=int,
    )
    clean = text.replace("\x00", "")  # PostgreSQL text cannot hold NUL
    assert query(prefix=clean, pk=number) == list(ApiKey.objects.filter(prefix=clean).exclude(pk=number))


def test_a_placeholder_that_changes_the_sql_is_refused():
    query = Prepared(lambda ids: Member.objects.filter(pk__in=[ids, ids + 1]), ids=int)
    with pytest.raises(ImproperlyConfigured):
        query(ids=1)
    with pytest.raises(ImproperlyConfigured):
        Prepared(lambda when: Member.objects.all(), when=float)


@pytest.mark.django_db(transaction=True)
def test_each_thread_runs_it_on_its_own_connection():
    if connections["default"].vendor != "postgresql":
        pytest.skip("threads with connections of their own: PostgreSQL (SQLite's test database is in memory)")
    merchant = MerchantFactory()
    member = MemberFactory(merchant=merchant)
    seen: list[object] = []

    def work() -> None:
        try:
            [found] = prepared(merchant_id=merchant.pk, phone=str(member.phone), now=timezone.now())
            seen.append((found.pk, id(connections["default"])))
        except Exception as error:
            seen.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(pk for pk, _connection in seen) == [member.pk] * 4  # type: ignore[misc]
    assert len({conn for _pk, conn in seen}) == 4  # type: ignore[misc]


# --- writes built once (create, bulk_create, save, update) ----------------------------------------------


def test_create_save_and_update_write_what_the_orm_writes():
    from tessera.core import prepared as writes

    member = writes.create(
        MemberFactory.build(merchant=MerchantFactory(), full_name="An", phone="+84901234567")
    )

    assert member.pk is not None and not member._state.adding
    assert member.history.count() == 1  # post_save is sent as save() sends it (simple_history listens)
    member.full_name = "Binh"
    writes.save(member)
    member.notes = "not written"
    member.full_name = "Chi"
    writes.save(member, update_fields=("full_name",))
    stored = Member.objects.get(pk=member.pk)
    assert (stored.full_name, stored.notes, str(stored.phone)) == ("Chi", "", "+84901234567")
    assert member.history.count() == 3
    assert writes.update(Member, member.pk, where={"full_name": "Chi"}, full_name="Dung") == 1
    assert writes.update(Member, member.pk, where={"full_name": "Chi"}, full_name="Em") == 0
    assert Member.objects.get(pk=member.pk).full_name == "Dung"


def test_bulk_create_gives_each_row_its_key():
    from tessera.core import prepared as writes

    merchant = MerchantFactory()
    built = [MemberFactory.build(merchant=merchant, full_name=f"M{n}", phone=None) for n in range(3)]

    saved = writes.bulk_create(built)

    assert [m.pk for m in saved] == sorted(m.pk for m in saved)
    assert {m.pk: m.full_name for m in saved} == dict(
        Member.objects.filter(merchant=merchant).values_list("pk", "full_name")
    )


def test_an_integer_no_column_holds_finds_nothing():
    """As the ORM answers an id from a URL too large for a 64-bit column: no row (and no query)."""
    assert prepared(merchant_id=2**70, phone="+84901234567", now=timezone.now()) == []
