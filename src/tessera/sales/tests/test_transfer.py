"""Points moved between members of one merchant (issue 15, section 6): by staff with the permission,
with a reason, lots keeping their expiry, both histories showing it, exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation
from tests.factories import MemberFactory, staff_user

from tessera.core.errors import DomainError
from tessera.core.models import IdempotencyRecord
from tessera.ledger.models import Account, AccountKind, Entry, EntryKind, Lot
from tessera.sales import services

pytestmark = pytest.mark.django_db


def points(member) -> Account:
    return Account.objects.get(member=member, kind=AccountKind.POINTS)


@pytest.fixture
def friend(merchant):
    return MemberFactory(merchant=merchant, phone="+84912000111", full_name="Trần Thị Bình")


@pytest.fixture
def manager(merchant, store):
    return staff_user(merchant, "store_manager", stores=[store]).user


def test_transfer_moves_lots_with_their_expiry_first_expiring_first(store, member, friend, manager):
    now = timezone.now()
    early = services.add_points(
        member=member, store=store, actor=None, points=30, now=now - timedelta(days=200)
    )
    late = services.add_points(member=member, store=store, actor=None, points=50, now=now)

    moved = services.transfer_points(
        source=member, target=friend, points=40, reason="Gộp tài khoản gia đình", actor=manager, store=store
    )

    expiries = {lot.expires_at: lot.remaining for lot in Lot.objects.filter(account=points(friend))}
    early_lot, late_lot = Lot.objects.get(entry=early), Lot.objects.get(entry=late)
    assert expiries == {early_lot.expires_at: 30, late_lot.expires_at: 10}
    assert (early_lot.remaining, late_lot.remaining) == (0, 40)
    assert (points(member).balance, points(friend).balance) == (40, 40)
    assert (moved.source_account.spendable, moved.target_account.spendable) == (40, 40)
    assert (moved.out.kind, moved.out.amount, moved.into.amount) == (EntryKind.TRANSFER, -40, 40)


def test_both_histories_show_the_movement_in_vietnamese(store, member, friend, manager):
    services.add_points(member=member, store=store, actor=None, points=20)
    moved = services.transfer_points(
        source=member, target=friend, points=20, reason="Gộp tài khoản", actor=manager, store=store
    )

    with translation.override("vi"):
        out = Entry.objects.get(pk=moved.out.pk).description
        into = Entry.objects.get(pk=moved.into.pk).description
    assert out == "Điểm đã chuyển cho Trần Thị Bình (+84912000111) — Gộp tài khoản"
    assert into == "Điểm nhận từ Nguyễn Văn An (+84903123456) — Gộp tài khoản"
    assert moved.out.reason_args["member_id"] == friend.pk
    with translation.override("vi"):
        # The member's own history: the other member's name, never their phone, nor the staff's note.
        assert Entry.objects.get(pk=moved.into.pk).member_description == "Điểm nhận từ Nguyễn Văn An"


def test_transfer_refusals(merchant, store, member, friend, manager, other_merchant):
    services.add_points(member=member, store=store, actor=None, points=20)
    cashier = staff_user(merchant, "cashier", stores=[store]).user
    stranger = MemberFactory(merchant=other_merchant, phone="+84912000999")

    def code(**kw) -> str:
        args = {
            "source": member,
            "target": friend,
            "points": 5,
            "reason": "x",
            "actor": manager,
            "store": store,
        }
        with pytest.raises(DomainError) as refused:
            services.transfer_points(**{**args, **kw})
        return refused.value.code

    assert code(actor=cashier) == "permission_denied"
    assert code(target=member) == "same_member"
    assert code(points=21) == "insufficient_balance"
    assert code(points=0) == "no_points"
    assert code(reason="  ") == "reason_required"
    assert code(target=stranger) == "not_found"
    assert points(member).balance == 20


def test_pending_points_cannot_move(store, member, friend, manager):
    """Only spendable points move: points still pending after a sale stay."""
    services.add_points(member=member, store=store, actor=None, points=10)
    account = points(member)
    Lot.objects.filter(account=account).update(
        released=False, available_at=timezone.now() + timedelta(days=3)
    )
    Account.objects.filter(pk=account.pk).update(pending=10)

    with pytest.raises(DomainError) as short:
        services.transfer_points(
            source=member, target=friend, points=1, reason="x", actor=manager, store=store
        )
    assert short.value.code == "insufficient_balance"


# --- API ----------------------------------------------------------------------------------------------


def test_api_transfer_answers_both_balances_and_a_replay_acts_once(pos, store, member, friend):
    services.add_points(member=member, store=store, actor=None, points=100)
    body = {
        "from": {"phone": "0903123456"},
        "to": {"member_id": friend.pk},
        "points": 60,
        "reason": "gia đình",
    }

    first = pos.post("/points/transfer", body, key="transfer-1")
    again = pos.post("/points/transfer", body, key="transfer-1")

    assert first.status_code == 201, first.content
    assert again.json() == first.json()
    data = first.json()
    assert (data["source"]["points"], data["source"]["points_available"]) == (-60, 40)
    assert (data["target"]["points"], data["target"]["points_available"]) == (60, 60)
    assert Entry.objects.filter(kind=EntryKind.TRANSFER).count() == 2
    assert IdempotencyRecord.objects.filter(key="transfer-1").count() == 1


def test_api_transfer_refusals_are_problems(pos, other_pos, store, member, friend):
    services.add_points(member=member, store=store, actor=None, points=10)

    short = pos.post(
        "/points/transfer",
        {"from": {"member_id": member.pk}, "to": {"member_id": friend.pk}, "points": 11, "reason": "x"},
    )
    same = pos.post(
        "/points/transfer",
        {"from": {"member_id": member.pk}, "to": {"phone": "0903123456"}, "points": 1, "reason": "x"},
    )
    foreign = other_pos.post(
        "/points/transfer",
        {"from": {"member_id": member.pk}, "to": {"member_id": friend.pk}, "points": 1, "reason": "x"},
    )

    assert (short.status_code, short.json()["code"]) == (409, "insufficient_balance")
    assert (same.status_code, same.json()["code"]) == (422, "same_member")
    assert foreign.status_code == 404
    assert short["Content-Type"].startswith("application/problem+json")
    assert points(member).balance == 10


# --- back office --------------------------------------------------------------------------------------


def test_transfer_page_needs_the_permission_and_acts_once(client, merchant, store, member, friend):
    from django.urls import reverse

    from tessera.core.idempotency import new_form_token

    url = reverse("admin:sales_transfer_points")
    services.add_points(member=member, store=store, actor=None, points=30)
    client.force_login(staff_user(merchant, "cashier", stores=[store]).user)
    assert client.get(url).status_code == 403

    client.force_login(staff_user(merchant, "store_manager", stores=[store]).user)
    page = client.get(f"{url}?member={member.pk}")
    form = {
        "source": str(member.phone),
        "target": str(friend.phone),
        "store": store.pk,
        "points": 10,
        "reason": "gia đình",
        "token": new_form_token(),
    }
    first = client.post(url, form)
    double_click = client.post(url, form)
    too_many = client.post(url, {**form, "points": 99, "token": new_form_token()})

    assert page.status_code == 200
    assert page.context["form"].initial["source"] == str(member.phone)
    assert (first.status_code, double_click.status_code) == (302, 302)
    assert (points(member).balance, points(friend).balance) == (20, 10)
    assert too_many.status_code == 422
    assert "Số dư không đủ" in too_many.content.decode()
