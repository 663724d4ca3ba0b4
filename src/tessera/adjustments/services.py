"""Every write of the adjustments app (F2, C3): create, apply ("adjust") and cancel vouchers.

A voucher is saved *pending*; `apply_voucher` applies it in one transaction: every line's points first,
then every line's tier. A line that would take more points than the member can spend refuses the
whole voucher: nothing is half-applied. With four-eyes approval switched on, the creator cannot apply
their own voucher.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tessera.adjustments.models import AdjustmentLine, AdjustmentSettings, AdjustmentVoucher, VoucherStatus
from tessera.cards.balances import points_account_of
from tessera.core.errors import Conflict, PermissionDenied, ValidationFailed
from tessera.ledger import services as ledger
from tessera.ledger.models import AccountKind, EntryKind
from tessera.ledger.services import InsufficientBalance
from tessera.members.models import Member
from tessera.points.policy import PointsPolicy, lot_dates, policy_of
from tessera.tenancy.models import Merchant
from tessera.tenancy.permissions import as_user, authorise, is_user
from tessera.tiers import services as tiers
from tessera.tiers.models import Tier
from tessera.tiers.selectors import current_tier


@dataclass(frozen=True)
class LineInput:
    """One member's adjustment: `points` positive adds, negative takes; `target_tier` sets the tier."""

    member: Member
    points: int = 0
    reason: str = ""
    target_tier: Tier | None = None


def _member_label(member: Member) -> str:
    return f"{member} ({member.phone})" if member.phone else str(member)


def _check_line(merchant: Merchant, line: LineInput) -> None:
    member = line.member
    if member.merchant_id != merchant.pk or (
        line.target_tier is not None and line.target_tier.merchant_id != merchant.pk
    ):
        raise ValidationFailed(_("The member or tier belongs to another merchant."), code="cross_merchant")
    if line.points == 0 and line.target_tier is None:
        raise ValidationFailed(
            _("%(member)s: give points to add or take, or a tier.") % {"member": _member_label(member)},
            code="empty_line",
            member_id=member.pk,
        )
    if member.erased_at is not None:
        raise ValidationFailed(_("An erased member cannot be adjusted."), code="member_erased")
    if member.superseded_by_id is not None and (line.points > 0 or line.target_tier is not None):
        # C3: an old account only gives its points away; the new account receives them and the tier.
        raise ValidationFailed(
            _("%(member)s was replaced after a phone change: adjust the new account.")
            % {"member": _member_label(member)},
            code="member_superseded",
            member_id=member.pk,
        )


@transaction.atomic
def create_voucher(
    *,
    merchant: Merchant,
    lines: Sequence[LineInput],
    code: str = "",
    note: str = "",
    tags: Sequence[str] = (),
    actor: Any = None,
) -> AdjustmentVoucher:
    """A pending voucher for one or many members (004 §3 steps 2–3). A blank code is generated."""
    authorise(actor, "adjustments.add_adjustmentvoucher", merchant=merchant)
    if not lines:
        raise ValidationFailed(_("Add at least one member."), code="no_lines")
    seen: set[int] = set()
    for line in lines:
        _check_line(merchant, line)
        if line.member.pk in seen:
            raise ValidationFailed(
                _("%(member)s appears twice.") % {"member": _member_label(line.member)},
                code="duplicate_member",
                member_id=line.member.pk,
            )
        seen.add(line.member.pk)
    code = code.strip() or f"ADJ-{timezone.now():%y%m%d}-{secrets.token_hex(3).upper()}"
    if AdjustmentVoucher.objects.of(merchant).filter(code=code).exists():
        raise Conflict(_("Another voucher has the code %(code)s.") % {"code": code}, code="code_taken")
    voucher = AdjustmentVoucher(
        merchant=merchant,
        code=code[:40],
        note=note,
        tags=", ".join(t.strip() for t in tags if t.strip())[:300],
    )
    voucher.stamp(actor)
    voucher.save()
    user = as_user(actor)
    AdjustmentLine.objects.bulk_create(
        AdjustmentLine(
            merchant=merchant,
            voucher=voucher,
            member=line.member,
            points=line.points,
            reason=line.reason[:300],
            target_tier=line.target_tier,
            created_by=user,
            updated_by=user,
        )
        for line in lines
    )
    return voucher


@transaction.atomic
def phone_move_voucher(*, old_member: Member, actor: Any = None) -> AdjustmentVoucher:
    """C3: a pending voucher moving an old account's spendable points and tier to the account that
    replaced it after a phone change. Someone applies it like any other voucher."""
    new_member = old_member.superseded_by
    if new_member is None:
        raise ValidationFailed(_("This account was not replaced by a phone change."), code="not_superseded")
    while new_member.superseded_by is not None:
        new_member = new_member.superseded_by
    account = points_account_of(old_member)
    points = account.spendable if account is not None else 0
    tier = current_tier(old_member)
    reason = str(_("Phone change: moved from account #%(id)s") % {"id": old_member.pk})
    lines = []
    if points > 0:
        lines.append(LineInput(member=old_member, points=-points, reason=reason))
    if points > 0 or tier is not None:
        lines.append(LineInput(member=new_member, points=points, reason=reason, target_tier=tier))
    if not lines:
        raise ValidationFailed(_("The old account has no points or tier to move."), code="nothing_to_move")
    return create_voucher(
        merchant=new_member.merchant, lines=lines, note=reason, tags=[str(_("phone change"))], actor=actor
    )


def _lock(voucher: AdjustmentVoucher) -> AdjustmentVoucher:
    return AdjustmentVoucher.objects.select_for_update().get(pk=voucher.pk)


def _refresh(target: AdjustmentVoucher, source: AdjustmentVoucher) -> AdjustmentVoucher:
    for field in AdjustmentVoucher._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    return target


def apply_voucher(
    *, voucher: AdjustmentVoucher, actor: Any = None, now: datetime | None = None
) -> AdjustmentVoucher:
    """ "Adjust" (004 §3 step 4): points first, then tier, all or nothing.

    A manual tier change grants the tier reward when it goes up and sets the hold (see
    `tiers.services.set_tier_manually`); a line with points and no tier may earn a higher tier.
    """
    now = now or timezone.now()
    with transaction.atomic():
        authorise(actor, "adjustments.apply_adjustmentvoucher", merchant=voucher.merchant_id)
        locked = _lock(voucher)
        if locked.status != VoucherStatus.PENDING:
            raise Conflict(
                _("This voucher is %(status)s, not pending.") % {"status": locked.get_status_display()},
                code="not_pending",
                status=locked.status,
            )
        if AdjustmentSettings.for_merchant(locked.merchant_id).four_eyes and (
            not is_user(actor) or actor.pk == locked.created_by_id
        ):
            raise PermissionDenied(
                _("Four-eyes approval: someone other than who created the voucher must apply it."),
                code="four_eyes",
            )
        merchant = locked.merchant
        policy = policy_of(merchant)
        lines = list(locked.lines.select_related("member", "target_tier").order_by("pk"))
        for line in lines:
            if line.points:
                line.entry = _apply_points(locked, line, policy, actor=actor, now=now)
        for line in lines:
            if line.target_tier is not None:
                line.tier_change = tiers.set_tier_manually(
                    member=line.member,
                    tier=line.target_tier,
                    actor=actor,
                    voucher_code=locked.code,
                    note=line.reason or locked.note,
                    now=now,
                )
            elif line.points > 0:
                line.tier_change = tiers.evaluate_upgrade(member=line.member, actor=actor, now=now)
        AdjustmentLine.objects.bulk_update(lines, ["entry", "tier_change"])
        locked.status = VoucherStatus.APPLIED
        locked.applied_at = now
        locked.applied_by = as_user(actor)
        locked.stamp(actor)
        locked.save()
    return _refresh(voucher, locked)


def _apply_points(
    voucher: AdjustmentVoucher, line: AdjustmentLine, policy: PointsPolicy, *, actor: Any, now: datetime
) -> Any:
    account = ledger.open_account(merchant=voucher.merchant, kind=AccountKind.POINTS, member=line.member)
    reason = line.reason or voucher.note or voucher.code
    if line.points > 0:
        dates = lot_dates(policy, earned_at=now, tz=voucher.merchant.tz)
        return ledger.credit(
            account=account,
            amount=line.points,
            kind=EntryKind.ADJUST,
            actor=actor,
            source=voucher.source,
            reason=reason[:300],
            available_at=dates.available_at,
            expires_at=dates.expires_at,
            now=now,
        )
    try:
        return ledger.debit(
            account=account,
            amount=-line.points,
            kind=EntryKind.ADJUST,
            actor=actor,
            source=voucher.source,
            reason=reason[:300],
            now=now,
        )
    except InsufficientBalance as exc:
        raise Conflict(
            _("%(member)s has only %(spendable)s points to take; nothing was applied.")
            % {"member": _member_label(line.member), "spendable": exc.detail["spendable"]},
            code="insufficient_balance",
            member_id=line.member.pk,
            spendable=exc.detail["spendable"],
            requested=-line.points,
        ) from None


@transaction.atomic
def cancel_voucher(*, voucher: AdjustmentVoucher, actor: Any = None) -> AdjustmentVoucher:
    """A pending voucher that will never be applied."""
    authorise(actor, "adjustments.change_adjustmentvoucher", merchant=voucher.merchant_id)
    locked = _lock(voucher)
    if locked.status != VoucherStatus.PENDING:
        raise Conflict(
            _("Only a pending voucher can be cancelled."), code="not_pending", status=locked.status
        )
    locked.status = VoucherStatus.CANCELLED
    locked.cancelled_at = timezone.now()
    locked.stamp(actor)
    locked.save()
    return _refresh(voucher, locked)


@transaction.atomic
def save_settings(*, merchant: Merchant, four_eyes: bool, actor: Any = None) -> AdjustmentSettings:
    authorise(actor, "adjustments.change_adjustmentsettings", merchant=merchant)
    settings = AdjustmentSettings.objects.select_for_update().filter(merchant=merchant).first()
    settings = settings or AdjustmentSettings(merchant=merchant)
    settings.four_eyes = four_eyes
    settings.stamp(actor)
    settings.save()
    return settings
