"""Reads of the sales app: what a member holds, a merchant's sales and their entries."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from tessera.core.errors import NotFound
from tessera.ledger.models import Entry
from tessera.sales.models import (
    Channel,
    ConfirmMethod,
    Refund,
    SalesSettings,
    StoreConfirmation,
    Transaction,
    TransactionLine,
)
from tessera.tenancy import config
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


def confirmation_rules(rules: SalesSettings, store_id: int) -> SalesSettings | StoreConfirmation:
    """What confirms the sales of a store (issue 15 §7): the store's own rules when it has them, else
    the merchant's sales settings. From the configuration cache (`tenancy.config`)."""
    merchant_id = rules.merchant_id
    stores = config.cached(
        merchant_id,
        "sales.store_confirmations",
        lambda: {row.store_id: row for row in StoreConfirmation.objects.filter(merchant_id=merchant_id)},
    )
    return stores.get(store_id, rules)


def needs_verification(rules: SalesSettings | StoreConfirmation, *, amount_due: int, points: int) -> bool:
    """True when a sale must be confirmed by a PIN, a code or a second staff member: some method is on,
    and either no threshold is set or the sale reaches one (amount due, or points spent)."""
    if not (rules.confirm_with_pin or rules.confirm_with_otp or rules.confirm_with_staff):
        return False
    if rules.verify_from_amount is None and rules.verify_from_points is None:
        return True
    return (rules.verify_from_amount is not None and amount_due >= rules.verify_from_amount) or (
        rules.verify_from_points is not None and points >= rules.verify_from_points
    )


def confirm_methods(sale: Transaction, rules: SalesSettings) -> list[str]:
    """The methods that may confirm `sale`, in the order the till offers them: the verifications its
    store's rules switch on, `none` when the sale needs no verification, and `external` for a sale an
    integration recorded (K1: the connected shop verified it)."""
    own = confirmation_rules(rules, sale.store_id)
    methods = [
        str(method)
        for method, on in (
            (ConfirmMethod.PIN, own.confirm_with_pin),
            (ConfirmMethod.OTP, own.confirm_with_otp),
            (ConfirmMethod.STAFF, own.confirm_with_staff),
        )
        if on
    ]
    if not needs_verification(own, amount_due=sale.amount_due, points=sale.points_to_spend):
        methods.append(str(ConfirmMethod.NONE))
    if sale.channel == Channel.INTEGRATION:
        methods.append(str(ConfirmMethod.EXTERNAL))
    return methods
