"""Adjustment vouchers (F2, 004 §3; C3): pending → applied by "adjust", points first then tier, all or
nothing, four-eyes, phone moves, and the back office — never across merchants."""

from __future__ import annotations

import pytest
from tests.factories import MemberFactory, staff_user

from tessera.adjustments import services
from tessera.adjustments.models import AdjustmentSettings, AdjustmentVoucher, VoucherStatus
from tessera.core.errors import Conflict, PermissionDenied
from tessera.ledger import services as ledger
from tessera.ledger.models import Account, AccountKind, EntryKind
from tessera.members.services import change_phone
from tessera.tiers.models import ChangeReason, Hold, MemberTier
from tessera.tiers.selectors import VOUCHER_SOURCE_PREFIX
from tessera.tiers.tests.factories import program, tier

pytestmark = pytest.mark.django_db


def balance(member) -> int:
    account = Account.objects.filter(member=member, kind=AccountKind.POINTS).first()
    return account.balance if account else 0


def give(member, points: int) -> None:
    account = ledger.open_account(merchant=member.merchant, kind=AccountKind.POINTS, member=member)
    ledger.credit(account=account, amount=points, kind=EntryKind.EARN)


def test_f2_voucher_is_saved_pending_and_adjust_applies_points_then_tier_with_reward(merchant):
    program(merchant)
    admin = staff_user(merchant, "merchant_admin").user
    an, binh = MemberFactory(merchant=merchant), MemberFactory(merchant=merchant)
    give(binh, 80)
    voucher = services.create_voucher(
        merchant=merchant,
        code="DC-001",
        note="Chuyển hệ thống",
        tags=["migration", " 2025 "],
        lines=[
            services.LineInput(
                member=an, points=300, reason="Old system", target_tier=tier(merchant, "gold")
            ),
            services.LineInput(member=binh, points=-30, reason="Correction"),
        ],
        actor=admin,
    )
    assert (voucher.status, voucher.tag_list, balance(an)) == (
        VoucherStatus.PENDING,
        ["migration", "2025"],
        0,
    )

    services.apply_voucher(voucher=voucher, actor=admin)

    voucher.refresh_from_db()
    assert (voucher.status, voucher.applied_by) == (VoucherStatus.APPLIED, admin)
    assert (balance(an), balance(binh)) == (300 + 100, 50)  # 100: Gold's reward, granted by hand too
    state = MemberTier.objects.get(member=an)
    assert (state.tier.code, state.hold) == ("gold", Hold.MANUAL_UPGRADE)
    line = voucher.lines.get(member=an)
    assert (line.entry.kind, line.entry.source, line.tier_change.reason, line.tier_change.voucher_code) == (
        EntryKind.ADJUST,
        f"{VOUCHER_SOURCE_PREFIX}{voucher.pk}",
        ChangeReason.MANUAL_UPGRADE,
        "DC-001",
    )


def test_f2_one_member_short_of_points_applies_nothing(merchant):
    program(merchant)
    an, binh = MemberFactory(merchant=merchant), MemberFactory(merchant=merchant)
    give(binh, 10)
    voucher = services.create_voucher(
        merchant=merchant,
        lines=[
            services.LineInput(member=an, points=500, target_tier=tier(merchant, "gold")),
            services.LineInput(member=binh, points=-50, reason="Refund fraud"),
        ],
    )

    with pytest.raises(Conflict) as refused:
        services.apply_voucher(voucher=voucher)

    assert (refused.value.code, refused.value.detail["member_id"]) == ("insufficient_balance", binh.pk)
    assert (balance(an), balance(binh)) == (0, 10)
    assert not MemberTier.objects.filter(member=an).exists()
    voucher.refresh_from_db()
    assert voucher.status == VoucherStatus.PENDING


def test_f2_four_eyes_the_creator_cannot_apply_their_own_voucher(merchant):
    first = staff_user(merchant, "merchant_admin").user
    second = staff_user(merchant, "merchant_admin").user
    services.save_settings(merchant=merchant, four_eyes=True, actor=first)
    member = MemberFactory(merchant=merchant)
    voucher = services.create_voucher(
        merchant=merchant, lines=[services.LineInput(member=member, points=10)], actor=first
    )

    with pytest.raises(PermissionDenied) as refused:
        services.apply_voucher(voucher=voucher, actor=first)
    assert refused.value.code == "four_eyes"
    services.apply_voucher(voucher=voucher, actor=second)

    assert balance(member) == 10


def test_f2_applying_needs_the_permission_and_happens_once(merchant):
    manager = staff_user(merchant, "store_manager").user
    member = MemberFactory(merchant=merchant)
    voucher = services.create_voucher(
        merchant=merchant, lines=[services.LineInput(member=member, points=10)], actor=manager
    )

    with pytest.raises(PermissionDenied):
        services.apply_voucher(voucher=voucher, actor=manager)
    services.apply_voucher(voucher=voucher)
    with pytest.raises(Conflict):
        services.apply_voucher(voucher=voucher)
    assert balance(member) == 10


def test_f2_cancelled_voucher_cannot_be_applied(merchant):
    member = MemberFactory(merchant=merchant)
    voucher = services.create_voucher(merchant=merchant, lines=[services.LineInput(member=member, points=10)])
    services.cancel_voucher(voucher=voucher)

    with pytest.raises(Conflict):
        services.apply_voucher(voucher=voucher)
    assert voucher.status == VoucherStatus.CANCELLED


def test_c3_points_and_tier_move_to_the_new_phone_only_through_a_voucher(merchant):
    program(merchant)
    old = MemberFactory(merchant=merchant, phone="+84980000000")
    give(old, 1000)
    services.apply_voucher(
        voucher=services.create_voucher(
            merchant=merchant, lines=[services.LineInput(member=old, target_tier=tier(merchant, "diamond"))]
        )
    )
    new = change_phone(member=old, new_phone="0980000001")
    assert (balance(new), MemberTier.objects.filter(member=new).exists()) == (0, False)

    voucher = services.phone_move_voucher(old_member=old)
    services.apply_voucher(voucher=voucher)

    assert (balance(old), balance(new)) == (0, 1500)  # 1000 + Diamond's 500 reward, moved once
    assert MemberTier.objects.get(member=new).tier.code == "diamond"
    # The person got Diamond's reward on the old account: the new one does not get it again.
    assert not new.accounts.get(kind=AccountKind.POINTS).entries.filter(kind=EntryKind.BONUS).exists()


def test_c3_a_replaced_account_can_only_give_points_away(merchant):
    from tessera.core.errors import ValidationFailed

    old = MemberFactory(merchant=merchant, phone="+84980000000")
    change_phone(member=old, new_phone="0980000001")
    old.refresh_from_db()

    with pytest.raises(ValidationFailed) as refused:
        services.create_voucher(merchant=merchant, lines=[services.LineInput(member=old, points=5)])
    assert refused.value.code == "member_superseded"


# --- back office -------------------------------------------------------------------------------------


def test_f2_admin_creates_a_voucher_for_members_by_phone_and_adjusts_it(client, merchant):
    program(merchant)
    an = MemberFactory(merchant=merchant, phone="+84903123456")
    binh = MemberFactory(merchant=merchant, phone="+84988777666")
    creator = staff_user(merchant, "store_manager").user
    client.force_login(creator)

    response = client.post(
        "/admin/adjustments/adjustmentvoucher/add/",
        {
            "phones": "0903 123 456\n0988777666",
            "points": "25",
            "reason": "Khai trương",
            "target_tier": "",
            "code": "DC-7",
            "note": "",
            "tags": "khai-truong",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    voucher = AdjustmentVoucher.objects.get(merchant=merchant, code="DC-7")
    assert sorted(voucher.lines.values_list("member_id", "points")) == sorted([(an.pk, 25), (binh.pk, 25)])

    client.force_login(staff_user(merchant, "merchant_admin").user)
    applied = client.post(f"/admin/adjustments/adjustmentvoucher/{voucher.pk}/apply/")

    assert applied.status_code == 302
    assert (balance(an), balance(binh)) == (25, 25)


def test_f2_admin_reports_unknown_phones_and_creates_nothing(client, merchant):
    client.force_login(staff_user(merchant, "merchant_admin").user)

    response = client.post(
        "/admin/adjustments/adjustmentvoucher/add/",
        {"phones": "0909 000 111", "points": "5", "reason": "", "code": "", "note": "", "tags": ""},
    )

    assert response.status_code == 200
    assert "0909 000 111" in response.content.decode()
    assert not AdjustmentVoucher.objects.exists()


def test_a1_vouchers_of_another_merchant_are_404(client, merchant, other_merchant):
    member = MemberFactory(merchant=merchant)
    voucher = services.create_voucher(merchant=merchant, lines=[services.LineInput(member=member, points=10)])
    client.force_login(staff_user(other_merchant, "merchant_admin").user)

    assert client.get(f"/admin/adjustments/adjustmentvoucher/{voucher.pk}/change/").status_code == 404
    assert client.post(f"/admin/adjustments/adjustmentvoucher/{voucher.pk}/apply/").status_code == 404
    assert client.post(f"/admin/adjustments/adjustmentvoucher/{voucher.pk}/cancel/").status_code == 404
    voucher.refresh_from_db()
    assert (voucher.status, balance(member)) == (VoucherStatus.PENDING, 0)


def test_f2_four_eyes_setting_is_per_merchant(merchant, other_merchant):
    services.save_settings(merchant=merchant, four_eyes=True)

    assert AdjustmentSettings.for_merchant(merchant.pk).four_eyes is True
    assert AdjustmentSettings.for_merchant(other_merchant.pk).four_eyes is False
