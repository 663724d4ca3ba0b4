"""Members-app test helpers. Ledger rows are written directly: these tests read balances, not move them."""

from __future__ import annotations

from datetime import datetime

from tessera.ledger.models import Account, AccountKind, Entry, EntryKind
from tessera.members.models import Member


def give_points(member: Member, amount: int, *, at: datetime) -> Entry:
    """A points account for `member` holding `amount`, its one entry dated `at` (the last visit)."""
    account = Account.objects.create(
        merchant_id=member.merchant_id, member=member, kind=AccountKind.POINTS, balance=amount
    )
    return Entry.objects.create(
        merchant_id=member.merchant_id,
        account=account,
        kind=EntryKind.EARN,
        amount=amount,
        balance_after=amount,
        occurred_at=at,
    )
