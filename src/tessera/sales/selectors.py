"""Reads of the sales app: what a member holds, a merchant's sales and their entries."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from tessera.cards.models import Card
from tessera.core.errors import NotFound
from tessera.ledger.models import Entry
from tessera.members.models import Member
from tessera.sales.models import Transaction
from tessera.sales.services import points_account_of, stored_value_account_of
from tessera.tenancy.models import Merchant, Store


@dataclass(frozen=True)
class Balances:
    points: int
    points_available: int
    points_pending: int
    points_held: int
    stored_value: int | None
    stored_value_available: int | None


def balances_of(member: Member, card: Card | None = None) -> Balances:
    """What the member holds and can spend now: units past their expiry are not counted even before
    the nightly job writes them off, so `points_available` is exactly what a spend can take (E10)."""
    points = points_account_of(member)
    stored = stored_value_account_of(member, card)
    return Balances(
        points=points.live_balance if points else 0,
        points_available=points.spendable if points else 0,
        points_pending=points.live_pending if points else 0,
        points_held=points.held if points else 0,
        stored_value=stored.live_balance if stored else None,
        stored_value_available=stored.spendable if stored else None,
    )


def sales_of(*, merchant: Merchant, store: Store | None = None) -> QuerySet[Transaction]:
    """The merchant's sales; only `store`'s when given (a store-bound API key acts in its store)."""
    sales = Transaction.objects.of(merchant)
    if store is not None:
        sales = sales.filter(store=store)
    return sales


def get_sale(*, merchant: Merchant, pk: int, store: Store | None = None) -> Transaction:
    sale = (
        sales_of(merchant=merchant, store=store)
        .select_related("store", "member", "card", "merchant")
        .prefetch_related("lines", "refunds__lines")
        .filter(pk=pk)
        .first()
    )
    if sale is None:
        raise NotFound(_("No such transaction."), code="transaction_not_found")
    return sale


def entries_of_sale(sale: Transaction) -> QuerySet[Entry]:
    """Every ledger entry the sale caused: earning, spending, and the reversals of its voids and refunds."""
    refund_sources = [refund.source for refund in sale.refunds.all()]
    return (
        Entry.objects.of(sale.merchant_id)
        .filter(Q(source=sale.source) | Q(source__in=refund_sources))
        .select_related("account")
        .order_by("occurred_at", "pk")
    )
