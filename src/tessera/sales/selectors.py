"""Reads of the sales app: what a member holds, a merchant's sales and their entries."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from tessera.core.errors import NotFound
from tessera.ledger.models import Entry
from tessera.sales.models import Refund, SalesSettings, Transaction, TransactionLine
from tessera.tenancy.models import Merchant, Store
from tessera.tenancy.permissions import is_user

REFUND_PERMISSION = "sales.refund_transaction"
#: What a cashier holds: ringing up sales (the cashier screen).
RING_UP_PERMISSION = "sales.add_transaction"


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
        .prefetch_related(Prefetch("lines", queryset=lines_with_refunds()), "refunds__lines")
        .filter(pk=pk)
        .first()
    )
    if sale is None:
        raise NotFound(_("No such transaction."), code="transaction_not_found")
    return sale


def lines_with_refunds() -> QuerySet[TransactionLine]:
    """Sale lines, each with what refunds took of it: `refunded_quantity`, `refunded_amount`."""
    return TransactionLine.objects.annotate(
        refunded_quantity=Coalesce(Sum("refund_lines__quantity"), 0),
        refunded_amount=Coalesce(Sum("refund_lines__amount"), 0),
    ).order_by("position", "pk")


def refunds_of(sale: Transaction) -> list[Refund]:
    """The sale's refunds with their lines: as prefetched when they were, none without a query when its
    lines (read with `lines_with_refunds`) show nothing refunded (every refund returns a line)."""
    if "refunds" in getattr(sale, "_prefetched_objects_cache", {}):
        return list(sale.refunds.all())
    lines = sale.lines.all()
    if all(getattr(line, "refunded_quantity", None) == 0 for line in lines):
        return []
    return list(sale.refunds.select_related("store").prefetch_related("lines"))


def entries_of_sale(sale: Transaction) -> QuerySet[Entry]:
    """Every ledger entry the sale caused: earning, spending, and the reversals of its voids and refunds."""
    refund_sources = [refund.source for refund in sale.refunds.all()]
    return (
        Entry.objects.of(sale.merchant_id)
        .filter(Q(source=sale.source) | Q(source__in=refund_sources))
        .select_related("account")
        .order_by("occurred_at", "pk")
    )


def refund_permission(actor: Any, merchant: Merchant) -> str:
    """The permission that lets `actor` refund the merchant's sales: `sales.refund_transaction`; or, where
    the merchant lets its cashiers refund (`SalesSettings.cashiers_may_refund`), the cashier's own
    `sales.add_transaction` (issue 14). The system (an API key) reads no settings."""
    if not is_user(actor) or actor.has_perm(REFUND_PERMISSION):
        return REFUND_PERMISSION
    if SalesSettings.for_merchant(merchant).cashiers_may_refund:
        return RING_UP_PERMISSION
    return REFUND_PERMISSION


def may_refund(user: Any, merchant: Merchant) -> bool:
    """Whether to offer `user` the refund pages; the service decides again with `refund_permission`."""
    return bool(user.has_perm(refund_permission(user, merchant)))
