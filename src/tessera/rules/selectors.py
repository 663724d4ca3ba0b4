"""Reads of the earning rules app: the rules in force, and the facts about a member that rules look at."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from tessera.cards.models import Card, CardStatus
from tessera.ledger.models import Account, AccountKind, Entry, EntryKind
from tessera.members.models import Member
from tessera.rules.models import EarningRule, EarningRuleVersion
from tessera.tenancy import config
from tessera.tenancy.models import Merchant


def rules_of(merchant: Merchant | int) -> QuerySet[EarningRule]:
    """Every rule of the merchant in the order they apply: priority, then creation (id)."""
    return EarningRule.objects.of(merchant).order_by("priority", "pk")


def current_versions(merchant: Merchant | int) -> list[EarningRuleVersion]:
    """The current version of each active rule, in the order they apply, read now (one query)."""
    rules = (
        rules_of(merchant)
        .filter(is_active=True, current_version__isnull=False)
        .select_related("current_version")
    )
    return [rule.current_version for rule in rules if rule.current_version is not None]


def versions_in_force(merchant: Merchant | int) -> list[EarningRuleVersion]:
    """`current_versions`, or none when the configuration cache has them (`tenancy.config`)."""
    return config.cached(
        merchant if isinstance(merchant, int) else merchant.pk,
        "rules.in_force",
        lambda: current_versions(merchant),
    )


def top_up_count(member: Member) -> int:
    """Stored-value top-ups of the member so far: on their own account and on their cards' accounts."""
    card_accounts = Card.objects.of(member.merchant_id).filter(member=member, account__isnull=False)
    accounts = Account.objects.of(member.merchant_id).filter(
        Q(member=member, kind=AccountKind.STORED_VALUE) | Q(pk__in=card_accounts.values("account_id"))
    )
    return Entry.objects.of(member.merchant_id).filter(account__in=accounts, kind=EntryKind.TOP_UP).count()


def card_type_ids_of(member: Member) -> set[int]:
    """Types of the member's cards in use (for a sale where no card is presented)."""
    return set(
        Card.objects.of(member.merchant_id)
        .filter(member=member, status=CardStatus.ACTIVE)
        .values_list("type_id", flat=True)
    )
