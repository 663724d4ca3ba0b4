"""Every write of the sales app (E1–E4, E9): quote, create, confirm, void, refund; add and deduct points.

A sale is created *pending*: it only reserves (holds) the points and stored value it will spend. The
second step, `confirm_transaction`, is where balances change: holds are captured and earned points are
credited as a lot with the merchant's pending window and expiry (E2, E10). `actor` is a user or None
(the system, e.g. the POS with its API key); a user needs the Django permission and must work for the
merchant, in the sale's store when they are store-scoped (B1, B2).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.db import connection
from django.db.models import (
    Field,
    FilteredRelation,
    Max,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.sql import Query
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from tessera.cards import services as cards
from tessera.cards.balances import Accounts, accounts_of, stored_value_account_of
from tessera.cards.models import Card
from tessera.core import events, limits, prepared
from tessera.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from tessera.core.formatting import format_money
from tessera.core.prepared import Prepared
from tessera.core.sms import send_sms
from tessera.core.transactions import atomic
from tessera.ledger import services as ledger
from tessera.ledger.locks import mark_locked
from tessera.ledger.models import Account, AccountKind, Entry, EntryKind
from tessera.ledger.reasons import Reason
from tessera.ledger.selectors import with_live_balances
from tessera.ledger.services import InsufficientBalance
from tessera.members import services as members
from tessera.members.models import Member
from tessera.members.selectors import public_name
from tessera.points.policy import lot_dates, policy_of
from tessera.rewards import occasions
from tessera.rewards.occasions import Discount
from tessera.rules.lines import share_taken_back
from tessera.rules.simulator import Part
from tessera.sales import bonuses, selectors, signals
from tessera.sales.earning import EarnQuote, points_for
from tessera.sales.models import (
    Channel,
    ConfirmationAttempt,
    ConfirmMethod,
    Refund,
    RefundLine,
    SalesSettings,
    StoreConfirmation,
    Transaction,
    TransactionLine,
    TransactionStatus,
)
from tessera.tenancy.models import ApiKey, Merchant, Store
from tessera.tenancy.permissions import authorise, is_user, staff_of
from tessera.tiers import services as tiers
from tessera.tiers.benefits import Benefit, tier_benefits

OTP_LIFETIME = timedelta(minutes=5)
#: Ledger `source` of the holds of a sale being created, before it has an id; renamed to the sale's own
#: source (`Transaction.source`) when they are captured or released.
NEW_SALE_SOURCE = "sale:new"
#: Ledger `source` of points added or deducted by hand (E4), for the staff daily report (J5).
MANUAL_ADD_SOURCE = "points:add"
MANUAL_DEDUCT_SOURCE = "points:deduct"


class ConfirmationLocked(DomainError):
    code = "confirmation_locked"
    status = 423


class PointsAlreadyExpired(ValidationFailed):
    """Points dated so far back that their validity ended: adding them would promise what can't be
    spent. `record_expired` records them as earned and expired instead (E4, E10)."""

    code = "points_already_expired"

    def __init__(self, *, earned_on: date, expired_on: date) -> None:
        super().__init__(
            _(
                "Points earned on %(earned)s expired on %(expired)s: they cannot be added. Record them "
                "as expired to keep them in the member's history."
            )
            % {"earned": earned_on.isoformat(), "expired": expired_on.isoformat()},
            earned_on=earned_on.isoformat(),
            expired_on=expired_on.isoformat(),
        )


# --- helpers ------------------------------------------------------------------------------------------


def _same_merchant(merchant: Merchant, *objects: Any) -> None:
    for obj in objects:
        if obj is not None and obj.merchant_id != merchant.pk:
            raise NotFound(_("Not found."), code="not_found")


def _floor_share(value: int, part: int, whole: int) -> int:
    """floor(value × part / whole): a proportional share that never rounds in the member's disfavour
    twice; the last refund settles the remainder exactly."""
    if whole <= 0 or value <= 0 or part <= 0:
        return 0
    return (value * part) // whole


def _spendable(account: Account | None) -> int:
    return account.spendable if account is not None else 0


def _sale_event(sale: Transaction) -> dict[str, Any]:
    """K2 payload: ids, amounts and points only; no personal data."""
    return {
        "transaction_id": sale.pk,
        "store_id": sale.store_id,
        "member_id": sale.member_id,
        "external_ref": sale.external_ref,
        "status": sale.status,
        "currency": sale.currency,
        "amount_due": sale.amount_due,
        "points_earned": sale.points_earned,
        "points_spent": sale.points_to_spend,
        "stored_value_spent": sale.stored_value_to_spend,
    }


def _refund_event(refund: Refund) -> dict[str, Any]:
    return {
        "refund_id": refund.pk,
        "transaction_id": refund.transaction_id,
        "store_id": refund.store_id,
        "member_id": refund.transaction.member_id,
        "amount": refund.amount,
        "points_reversed": refund.points_reversed,
        "points_returned": refund.points_returned,
        "stored_value_returned": refund.stored_value_returned,
    }


def _points_event(entry: Entry, member: Member) -> dict[str, Any]:
    return {"entry_id": entry.pk, "member_id": member.pk, "store_id": entry.store_id, "points": entry.amount}


# --- quote --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SaleLine:
    """A basket line. `amount` is the line total after any line discount; quantity × unit price if None."""

    name: str
    quantity: int
    unit_price: int
    sku: str = ""
    amount: int | None = None
    category: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def line_amount(self) -> int:
        return self.quantity * self.unit_price if self.amount is None else self.amount


@dataclass(frozen=True)
class SaleQuote:
    """What the POS shows before payment (E1). Nothing is written to compute it."""

    currency: str
    total_amount: int
    tier: str | None
    discount_percent: Decimal
    discount_amount: int
    amount_due: int
    benefits: list[Benefit]
    points_to_earn: int
    earn_explanation: str
    points_balance: int
    points_available: int
    points_pending: int
    stored_value_available: int
    point_value: Decimal
    points_to_spend: int
    points_spend_value: int
    stored_value_to_spend: int
    amount_to_pay: int
    #: The most points that can pay this basket now (E7): what the member can spend, and no more than
    #: the amount due left after stored value is worth.
    points_max_to_spend: int
    #: Which earning rule (version) gave which part of `points_to_earn`, and why (E5).
    earning: list[Part] = field(default_factory=list)
    #: Each line's share of `points_to_earn`, in the basket's order (issue 15 §4).
    line_points: list[int] = field(default_factory=list)
    #: The tier's and an occasion's discount that make up `discount_amount`, and why (issue 15 §3).
    discounts: list[Discount] = field(default_factory=list)


def points_money_value(points: int, point_value: Decimal) -> int:
    """What `points` pay (E7), in minor units: points × the merchant's point value, rounded down to the
    minor unit (never up: points never pay a fraction of a đồng or fen that does not exist)."""
    return int((points * point_value).to_integral_value(rounding=ROUND_FLOOR))


def points_paying(amount: int, point_value: Decimal) -> int:
    """The most points whose value (rounded down) fits in `amount`: floor(amount / point value)."""
    if point_value <= 0 or amount <= 0:
        return 0
    return int((Decimal(amount) / point_value).to_integral_value(rounding=ROUND_FLOOR))


def _validate_lines(lines: list[SaleLine]) -> None:
    if not lines:
        raise ValidationFailed(_("A sale needs at least one line."), code="invalid_basket")
    for index, line in enumerate(lines):
        if line.quantity <= 0 or line.unit_price < 0 or line.line_amount < 0 or not line.name.strip():
            raise ValidationFailed(
                _("Line %(number)s needs a name, a positive quantity and amounts of zero or more.")
                % {"number": index + 1},
                code="invalid_basket",
                line=index,
            )


def quote_sale(
    *,
    merchant: Merchant,
    store: Store,
    member: Member,
    lines: list[SaleLine],
    card: Card | None = None,
    points_to_spend: int = 0,
    stored_value_to_spend: int = 0,
    at: datetime | None = None,
    accounts: Accounts | None = None,
    balances: bool = True,
) -> SaleQuote:
    """Discount, tier benefits, points to earn and what can be spent, for a basket. No side effects.
    `accounts`: the member's, as read with them (`find_customer(with_accounts=True)`).

    Points are earned on the amount due after the tier discount, less the part paid with points (points
    earn no points); stored value is prepaid money and earns like cash. Rounding: down, everywhere.
    Raises the same errors `create_transaction` would (member not active, card unusable, short balance).
    Without `balances` the member's accounts are not read: the balances quoted are 0 and a short
    balance is left to the caller (`create_transaction`'s holds check it on the locked accounts).
    """
    at = at or timezone.now()
    _same_merchant(merchant, store, member, card)
    _validate_lines(lines)
    members.ensure_can_transact(member)
    if card is not None:
        _check_card(card, member)
    if points_to_spend < 0 or stored_value_to_spend < 0:
        raise ValidationFailed(_("Amounts to spend cannot be negative."), code="invalid_basket")
    policy = policy_of(merchant)
    total = sum(line.line_amount for line in lines)
    perks = tier_benefits(member=member, store=store, at=at)
    discounts = occasions.discounts_for(
        member=member, store=store, at=at, total=total, perks=perks, currency=merchant.currency
    )
    discount = sum(part.amount for part in discounts)
    amount_due = total - discount
    spend_value = points_money_value(points_to_spend, policy.point_value)
    if points_to_spend and not spend_value:
        raise ValidationFailed(
            _("%(points)s points pay nothing here: a point is worth %(value)s minor units, rounded down.")
            % {"points": points_to_spend, "value": policy.point_value},
            code="points_pay_nothing",
        )
    if spend_value + stored_value_to_spend > amount_due:
        raise ValidationFailed(
            _("Points and stored value cannot pay more than the amount due (%(due)s).")
            % {"due": format_money(amount_due, merchant.currency)},
            code="overpayment",
            amount_due=amount_due,
        )
    if balances:
        points_account, sv_account = accounts if accounts is not None else accounts_of(member, card)
    else:
        points_account, sv_account = None, None
    if balances and points_to_spend > _spendable(points_account):
        raise InsufficientBalance(spendable=_spendable(points_account), requested=points_to_spend)
    if balances and stored_value_to_spend > _spendable(sv_account):
        raise InsufficientBalance(spendable=_spendable(sv_account), requested=stored_value_to_spend)
    earn = points_for(
        merchant=merchant,
        amount=amount_due - spend_value,
        member=member,
        store=store,
        at=at,
        lines=lines,
        card=card,
        perks=perks,
    )
    return SaleQuote(
        currency=merchant.currency,
        total_amount=total,
        tier=perks.tier,
        discount_percent=sum((part.percent for part in discounts if part.occasion is None), Decimal(0)),
        discount_amount=discount,
        amount_due=amount_due,
        benefits=list(perks.benefits),
        points_to_earn=earn.points,
        earn_explanation=earn.explanation,
        points_balance=points_account.live_balance if points_account else 0,
        points_available=_spendable(points_account),
        points_pending=points_account.live_pending if points_account else 0,
        stored_value_available=_spendable(sv_account),
        point_value=policy.point_value,
        points_to_spend=points_to_spend,
        points_spend_value=spend_value,
        stored_value_to_spend=stored_value_to_spend,
        amount_to_pay=amount_due - spend_value - stored_value_to_spend,
        points_max_to_spend=min(
            _spendable(points_account), points_paying(amount_due - stored_value_to_spend, policy.point_value)
        ),
        earning=earn.parts,
        line_points=earn.line_points,
        discounts=discounts,
    )


def _check_card(card: Card, member: Member) -> None:
    if card.member_id != member.pk:
        raise ValidationFailed(_("This card belongs to another member."), code="card_member_mismatch")
    cards.ensure_usable(card)


# --- create -------------------------------------------------------------------------------------------


@atomic()
def create_transaction(
    *,
    merchant: Merchant,
    store: Store,
    member: Member,
    lines: list[SaleLine],
    card: Card | None = None,
    points_to_spend: int = 0,
    stored_value_to_spend: int = 0,
    external_ref: str = "",
    note: str = "",
    actor: Any = None,
    api_key: ApiKey | None = None,
    channel: Channel = Channel.POS,
    occurred_at: datetime | None = None,
) -> Transaction:
    """A pending sale: quoted, its lines saved, the points and stored value it spends held (E1, E3)."""
    authorise(actor, "sales.add_transaction", merchant=merchant.pk, store=store)
    _same_merchant(merchant, api_key)
    now = timezone.now()
    quote = quote_sale(
        merchant=merchant,
        store=store,
        member=member,
        card=card,
        lines=lines,
        points_to_spend=points_to_spend,
        stored_value_to_spend=stored_value_to_spend,
        at=occurred_at or now,
        # The holds below lock the accounts and refuse a short balance as the quote would (the same
        # InsufficientBalance): the balances need no read of their own (issue 13).
        balances=False,
    )
    external_ref = external_ref.strip()
    if (
        external_ref
        and Transaction.objects.of(merchant)
        .filter(store=store, external_ref=external_ref)
        .exclude(status=TransactionStatus.VOIDED)
        .exists()
    ):
        raise Conflict(
            _("Invoice %(ref)s is already recorded in this store.") % {"ref": external_ref},
            code="duplicate_invoice",
        )
    sale = Transaction(
        merchant=merchant,
        store=store,
        api_key=api_key,
        channel=channel,
        member=member,
        card=card,
        currency=merchant.currency,
        total_amount=quote.total_amount,
        discount_amount=quote.discount_amount,
        discount_parts=[part.stored() for part in quote.discounts] or None,
        points_earned=quote.points_to_earn,
        earn_explanation=quote.earn_explanation[:300],
        earning_parts=[part.stored() for part in quote.earning],
        points_to_spend=points_to_spend,
        stored_value_to_spend=stored_value_to_spend,
        external_ref=external_ref,
        note=note,
        occurred_at=occurred_at or now,
    )
    # The holds first, so the sale is written with them in one INSERT (issue 13). They are named after
    # the sale once it is settled (`_settle`, void): until then the sale's row points to them.
    if points_to_spend:
        sale.points_hold = ledger.place_hold(
            account=ledger.MemberAccount(merchant.pk, member.pk, AccountKind.POINTS),
            amount=points_to_spend,
            source=NEW_SALE_SOURCE,
            actor=actor,
        )
    if stored_value_to_spend:
        sv_account = stored_value_account_of(member, card)
        if sv_account is None:
            raise InsufficientBalance(spendable=0, requested=stored_value_to_spend)
        sale.stored_value_hold = ledger.place_hold(
            account=sv_account, amount=stored_value_to_spend, source=NEW_SALE_SOURCE, actor=actor
        )
    sale.stamp(actor)
    _without_history(sale)
    prepared.create(sale)  # the write's text built once (issue 13)
    saved_lines = prepared.bulk_create(
        [
            TransactionLine(
                merchant=merchant,
                transaction=sale,
                position=index,
                sku=line.sku,
                category=line.category,
                labels=dict(line.labels),
                name=line.name,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.line_amount,
                points=points,
            )
            for index, (line, points) in enumerate(zip(lines, quote.line_points, strict=True))
        ]
    )
    # The answer is shaped from what was just written: nothing to read back (issue 13).
    _prefetched(sale, "lines", saved_lines)
    _prefetched(sale, "refunds", [])
    return sale


# --- confirm ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SaleRef:
    """A sale named by its id within a merchant (and the store of a store-bound API key), not read: the
    service finds and locks it in one statement, NotFound when it is not there (issue 13)."""

    merchant: Merchant
    pk: int
    store: Store | None = None


def _without_history(sale: Transaction) -> None:
    """The services' writes to a sale keep no history row (issue 13): each step has its own stamped
    columns (created_by/at; confirm_method, confirmed_by/at; failed_confirmations, locked_at and the
    ConfirmationAttempt rows; voided_by/at, void_reason; updated_by/at) and its ledger entries, so a
    history row per status change repeated them, at one INSERT per step. Edits in the back office keep
    theirs."""
    sale.skip_history_when_saving = True  # type: ignore[attr-defined]


def _prefetched(instance: Any, name: str, objects: list[Any]) -> None:
    """Give `instance.<name>.all()` these objects, as prefetch_related would, without a query."""
    queryset = getattr(type(instance), name).related_manager_cls(instance).get_queryset()
    queryset._result_cache = list(objects)
    queryset._prefetch_done = True
    if not hasattr(instance, "_prefetched_objects_cache"):
        instance._prefetched_objects_cache = {}
    instance._prefetched_objects_cache[name] = queryset


def _lock(
    target: Transaction | SaleRef,
    *,
    lines: bool = False,
    pending_lines: bool = False,
    member: bool = False,
    entries: bool = False,
    points_account: bool = False,
) -> Transaction:
    """The sale, locked until the transaction ends, with its store, member, card and holds, in one
    statement. `lines`: its lines, each with what refunds took of it (`refunded_quantity`,
    `refunded_amount`), for the answer; `pending_lines`: the same, for a sale about to be confirmed,
    read by the locking statement itself (see `_lock_with_lines`); `member`: the member's row locked
    too (FOR NO KEY UPDATE), so tries at a PIN or code on the member's other sales wait until this one
    is recorded (issue 12); `entries`: the ledger entries it made; `points_account`: the member's
    points account locked too (`ledger.locks.mark_locked`), so the ledger's writers that reverse the
    sale's points do not lock it again (issue 13: void and refund). What the lock returns is fresh even
    if it had to wait (PostgreSQL returns the locked rows as committed meanwhile), and what is read
    after it (lines, lots) is newer still."""
    ref = target if isinstance(target, SaleRef) else None
    related = ["store", "member", "card", "points_hold", "stored_value_hold"]
    related += ["merchant"] if ref is None else []
    related += list(_ENTRIES) if entries else []
    where: dict[str, Any] = {"pk": target.pk}
    if ref is not None:
        where["merchant"] = ref.merchant.pk
        if ref.store is not None:
            where["store"] = ref.store.pk
    sale = _lock_with_lines(where, related, member=member) if pending_lines else None
    if sale is None:
        found = _locking_sale(tuple(where), tuple(related), member=member, points_account=points_account)(
            **where
        )
        if not found and points_account:  # the member has no points account: the sale alone
            return _lock(target, lines=lines, member=member, entries=entries)
        if not found:
            raise NotFound(_("No such transaction."), code="transaction_not_found")
        sale = found[0]
        if points_account:
            _adopt_points_account(sale)
        if lines or pending_lines:
            _with_lines(sale, _LINES_WITH_REFUNDS(transaction_id=sale.pk))
    if ref is not None:
        sale.merchant = ref.merchant
    # The store's and the member's merchant (zones, policy) without a query.
    sale.store.merchant = sale.member.merchant = sale.merchant
    _without_history(sale)
    return sale


# The sale's locking reads, compiled once per process and shape (core.prepared; issue 13: building and
# compiling them was most of a void's or refund's CPU): by the names in `where`, with `related`.
_LOCKING: dict[tuple[Any, ...], Prepared[Transaction]] = {}
_LOCKING_LINES: dict[tuple[Any, ...], Prepared[TransactionLine]] = {}


def _locking_sale(
    keys: tuple[str, ...], related: tuple[str, ...], *, member: bool, points_account: bool
) -> Prepared[Transaction]:
    shape = (keys, related, member, points_account)
    found = _LOCKING.get(shape)
    if found is None:

        def build(**where: int) -> QuerySet[Transaction]:
            sales = (
                Transaction.objects.select_for_update(
                    of=("self", "member") if member else ("self",), no_key=member
                )
                .select_related(*related)
                .filter(**where)
            )
            if points_account:
                sales = _with_points_account(sales)
            # No ORDER BY (the model's ordering): one row by its key.
            return sales.order_by()

        found = _LOCKING[shape] = Prepared(build, **dict.fromkeys(keys, int))
    return found


#: A sale's lines with what refunds took of each (as `prefetch_related` read them before).
_LINES_WITH_REFUNDS = Prepared(
    lambda transaction_id: selectors.lines_with_refunds().filter(transaction_id=transaction_id),
    transaction_id=int,
)


def _with_lines(sale: Transaction, lines: list[TransactionLine]) -> None:
    """Give the sale its lines (`sale.lines.all()`), each line its sale, as prefetch_related would."""
    for line in lines:
        TransactionLine.transaction.field.set_cached_value(line, sale)
    _prefetched(sale, "lines", lines)


class _AlsoLocking(Query):
    """A query that also locks the rows of its `lock_also` aliases (FilteredRelation joins, which
    `select_for_update(of=…)` cannot name)."""

    lock_also: tuple[str, ...] = ()

    def get_compiler(self, *args: Any, **kwargs: Any) -> Any:
        compiler = super().get_compiler(*args, **kwargs)
        named = compiler.get_select_for_update_of_arguments
        also = [compiler.quote_name_unless_alias(alias) for alias in self.lock_also]
        compiler.get_select_for_update_of_arguments = lambda: [*named(), *also]
        return compiler


def _with_points_account(sales: QuerySet[Transaction]) -> QuerySet[Transaction]:
    """`sales` joined to their member's points account (`points_account`), locked with the sale."""
    sales = (
        sales.annotate(
            points_account=FilteredRelation(
                "member__accounts", condition=Q(member__accounts__kind=AccountKind.POINTS)
            )
        )
        .select_related("points_account")  # type: ignore[misc]  # (a FilteredRelation: the plugin misses it)
        .filter(points_account__isnull=False)
    )
    sales.query.__class__ = _AlsoLocking
    sales.query.lock_also = ("points_account",)  # type: ignore[attr-defined]
    return sales


def _adopt_points_account(sale: Transaction) -> None:
    """Hand the points account locked with `sale` to the sale's points entries, marked as locked."""
    account: Account = sale.points_account  # type: ignore[attr-defined]
    account._state.fields_cache.clear()  # what the filtered join cached on it is not its own
    account.member = sale.member
    mark_locked([account])
    for name in ("points_spend_entry", "earn_entry"):
        entry = getattr(sale, name)
        if entry is not None and entry.account_id == account.pk:
            entry.account = account


def _lock_with_lines(where: dict[str, Any], related: list[str], *, member: bool) -> Transaction | None:
    """The sale and its lines in the one statement that locks the sale: its lines, one row each, each
    with the sale joined (None when it has no line, or is not there: `_lock` reads it the usual way).

    Only for a sale about to be confirmed: lines never change, and a sale still pending has no refund
    (a refund needs it confirmed, under this same lock), so nothing read with the lock can be stale if
    the lock had to wait; the sale's own row is read as it is once locked. A sale already confirmed is
    refused by the caller (`_ensure_pending`) before its lines are used."""
    shape = (tuple(where), tuple(related), member)
    prepared = _LOCKING_LINES.get(shape)
    if prepared is None:

        def build(**values: int) -> QuerySet[TransactionLine]:
            return (
                TransactionLine.objects.select_for_update(
                    of=("transaction", "transaction__member") if member else ("transaction",), no_key=member
                )
                .select_related("transaction", *(f"transaction__{name}" for name in related))
                .filter(**{f"transaction__{key}": value for key, value in values.items()})
                .order_by("position", "pk")
            )

        prepared = _LOCKING_LINES[shape] = Prepared(build, **dict.fromkeys(where, int))
    rows = prepared(**where)
    if not rows:
        return None
    sale = rows[0].transaction
    for line in rows:
        line.transaction = sale
        line.refunded_quantity = line.refunded_amount = 0  # type: ignore[attr-defined]
    _prefetched(sale, "lines", rows)
    return sale


def _ensure_pending(sale: Transaction) -> None:
    if sale.status != TransactionStatus.PENDING:
        raise Conflict(
            _("This sale is %(status)s, not pending.") % {"status": sale.get_status_display()},
            code="not_pending",
            status=sale.status,
        )


def _ensure_method_allowed(rules: SalesSettings, method: str, sale: Transaction) -> None:
    """The method is one the sale's store accepts for a sale of its amount (issue 15 §7); `none`, for a
    sale that needs verification, is refused as `verification_required`."""
    allowed = selectors.confirm_methods(sale, rules)
    if str(method) in allowed:
        return
    if method == ConfirmMethod.NONE and any(m in allowed for m in ConfirmMethod.verifying()):
        raise ValidationFailed(
            _("This sale must be confirmed by the member's PIN, a one-time code or a second staff member."),
            code="verification_required",
            allowed=allowed,
        )
    raise ValidationFailed(
        _("This merchant does not accept confirmation by “%(method)s”.") % {"method": method},
        code="method_not_allowed",
        allowed=allowed,
    )


def _member_failures(sale: Transaction, rules: SalesSettings, now: datetime) -> int:
    """Wrong tries of the member in the lockout window, since their last successful confirmation."""
    since = now - timedelta(minutes=rules.confirm_lockout_minutes)
    attempts = ConfirmationAttempt.objects.filter(
        merchant_id=sale.merchant_id, member_id=sale.member_id, created_at__gte=since
    )
    last_success = attempts.filter(succeeded=True).aggregate(at=Max("created_at"))["at"]
    if last_success is not None:
        attempts = attempts.filter(created_at__gt=last_success)
    return attempts.filter(succeeded=False).count()


def _ensure_not_locked(sale: Transaction, rules: SalesSettings, now: datetime) -> None:
    limit = rules.confirm_attempt_limit
    if sale.locked_at is not None or sale.failed_confirmations >= limit:
        raise ConfirmationLocked(
            _("Too many wrong attempts: this sale is locked. Void it and start again."),
            scope="transaction",
        )
    if _member_failures(sale, rules, now) >= limit:
        raise ConfirmationLocked(
            _("Too many wrong attempts for this member: try again in %(minutes)s minutes.")
            % {"minutes": rules.confirm_lockout_minutes},
            scope="member",
        )


def _otp_digest(sale: Transaction, code: str) -> str:
    return hmac.new(
        settings.SECRET_KEY.encode(), f"sale:{sale.pk}:{code}".encode(), hashlib.sha256
    ).hexdigest()


def _verify_secret(sale: Transaction, method: str, pin: str | None, otp: str | None, now: datetime) -> bool:
    if method == ConfirmMethod.PIN:
        if not getattr(sale.member, "pin_hash", ""):
            raise ValidationFailed(_("This member has not set a PIN."), code="pin_not_set")
        return members.check_member_pin(member=sale.member, pin=pin or "")
    if not sale.otp_hash:
        raise ValidationFailed(_("Request a one-time code first."), code="otp_not_requested")
    if sale.otp_expires_at is None or sale.otp_expires_at < now:
        raise ValidationFailed(_("The one-time code has expired; request a new one."), code="otp_expired")
    return hmac.compare_digest(sale.otp_hash, _otp_digest(sale, (otp or "").strip()))


def _check_staff(sale: Transaction, staff_user: Any) -> None:
    """E2: a second staff member of the merchant, allowed to confirm, in the sale's store, not its creator."""
    if not is_user(staff_user):
        raise ValidationFailed(_("A staff member must confirm this sale."), code="staff_required")
    staff = staff_of(staff_user)
    if (
        staff is None
        or not staff_user.is_active
        or staff.merchant_id != sale.merchant_id
        or not staff.can_act_in(sale.store)
        or not staff_user.has_perm("sales.confirm_transaction")
    ):
        raise PermissionDenied(
            _("This staff member may not confirm sales here."), code="staff_cannot_confirm"
        )
    if staff_user.pk == sale.created_by_id:
        raise PermissionDenied(
            _("The sale must be confirmed by someone other than who entered it."), code="same_staff"
        )


def authenticate_second_staff(*, request: Any, username: str, password: str) -> Any:
    """E2: the second staff member's user name and password, checked by Django and axes' lockout; the
    user or None. The user's row stays locked until the try is recorded (the caller's transaction), so
    tries sent at once for one user name are checked one at a time and axes counts each failure before
    it looks at the next: concurrency never buys extra guesses at a password (issue 12)."""
    user_model = get_user_model()
    with atomic():
        list(
            user_model._default_manager.select_for_update()
            .filter(**{user_model.USERNAME_FIELD: username})
            .values_list("pk")
        )
        return authenticate(request, username=username, password=password)


def confirm_transaction(
    *,
    transaction: Transaction | SaleRef,
    method: str,
    pin: str | None = None,
    otp: str | None = None,
    staff_user: Any = None,
    actor: Any = None,
    now: datetime | None = None,
) -> Transaction:
    """The second step (E2): verify, then capture the holds and credit the earned points as a lot.

    A wrong PIN or code is recorded and counted before the error is raised, so retrying cannot escape
    the limit: at `confirm_attempt_limit` wrong tries the sale is locked (it stays pending), and so is
    the member for `confirm_lockout_minutes`. The sale's and the member's rows are locked from the
    count to the record, so tries sent at once never buy extra guesses.

    Returns the sale as confirmed, with its lines (`transaction`, when a `Transaction`, is refreshed).
    """
    now = now or timezone.now()
    failure: DomainError | None = None
    verified = method in (ConfirmMethod.PIN, ConfirmMethod.OTP)
    with atomic():
        sale = _lock(transaction, pending_lines=True, member=verified)
        authorise(actor, "sales.confirm_transaction", merchant=sale.merchant_id, store=sale.store)
        _ensure_pending(sale)
        rules = SalesSettings.for_merchant(sale.merchant)
        _ensure_method_allowed(rules, method, sale)
        members.ensure_can_transact(sale.member)
        confirmed_by = actor if is_user(actor) else None
        if verified:
            correct = _try_secret(sale, rules, method, pin, otp, now)
            if not correct:
                sale.failed_confirmations += 1
                left = max(rules.confirm_attempt_limit - sale.failed_confirmations, 0)
                if left == 0:
                    sale.locked_at = now
                sale.save(update_fields=["failed_confirmations", "locked_at", "updated_at"])
                failure = ValidationFailed(
                    _("The PIN is wrong.") if method == ConfirmMethod.PIN else _("The code is wrong."),
                    code="wrong_pin" if method == ConfirmMethod.PIN else "wrong_otp",
                    attempts_left=left,
                )
                failure.keeps_writes = True  # the attempt is counted even though the confirm fails
        elif method == ConfirmMethod.STAFF:
            _check_staff(sale, staff_user)
            confirmed_by = staff_user
        if failure is None:
            if sale.discount_parts:
                occasions.record_uses(
                    merchant_id=sale.merchant_id,
                    member_id=sale.member_id,
                    parts=occasions.stored_discounts(sale.discount_parts),
                    now=now,
                )
            _settle(sale, rules, method=method, confirmed_by=confirmed_by, actor=confirmed_by, now=now)
            # F1: a sale that lifts the ranking to a higher tier upgrades the member at once.
            tiers.evaluate_upgrade(member=sale.member, actor=confirmed_by, now=now)
            bonuses.confirmed(sale, actor=confirmed_by, now=now)  # issue 15 §5: a first purchase's bonuses
    if failure is not None:
        raise failure
    if isinstance(transaction, Transaction):
        transaction.refresh_from_db()
    _prefetched(sale, "refunds", [])  # a sale being confirmed was pending: nothing was refunded
    return sale


def _try_secret(
    sale: Transaction, rules: SalesSettings, method: str, pin: str | None, otp: str | None, now: datetime
) -> bool:
    """Check the PIN or code and record the try, unless the sale or the member is locked
    (ConfirmationLocked: nothing is checked, nothing recorded). The member's row is locked
    (`_lock(member=True)`), so the member's tries are counted one after the other.

    The try is recorded as a success by the statement that counts the member's failures (one statement
    for both), before the secret is checked; a wrong secret turns it into a failure (a second statement,
    on the wrong path only); a refusal (no PIN set, no code requested) rolls it back with the rest."""
    if sale.locked_at is not None or sale.failed_confirmations >= rules.confirm_attempt_limit:
        raise ConfirmationLocked(
            _("Too many wrong attempts: this sale is locked. Void it and start again."),
            scope="transaction",
        )
    attempt = _record_attempt(sale, rules, method=method, now=now)
    if attempt is None:
        raise ConfirmationLocked(
            _("Too many wrong attempts for this member: try again in %(minutes)s minutes.")
            % {"minutes": rules.confirm_lockout_minutes},
            scope="member",
        )
    correct = _verify_secret(sale, method, pin, otp, now)
    if not correct:
        ConfirmationAttempt.objects.filter(pk=attempt).update(succeeded=False)
    return correct


def _record_attempt(sale: Transaction, rules: SalesSettings, *, method: str, now: datetime) -> int | None:
    """Record a successful try unless the member's wrong tries in the lockout window, since their last
    success, already reach the limit (what `_member_failures` counts): one statement for the count and
    the record. The attempt's id; None when the member is locked (nothing recorded)."""
    quote = connection.ops.quote_name
    meta = ConfirmationAttempt._meta
    table = quote(meta.db_table)

    def column(name: str) -> str:
        field = meta.get_field(name)
        assert isinstance(field, Field) and field.column
        return quote(field.column)

    col = {name: column(name) for name in ("merchant", "transaction", "member")}
    method_, succeeded_, at, pk = (column(n) for n in ("method", "succeeded", "created_at", "id"))
    since = now - timedelta(minutes=rules.confirm_lockout_minutes)
    moment = connection.ops.adapt_datetimefield_value
    mine = f"a.{col['merchant']} = %s AND a.{col['member']} = %s AND a.{at} >= %s"
    sql = (
        f"INSERT INTO {table} ({col['merchant']}, {col['transaction']}, {col['member']}, {method_}, "  # noqa: S608 (names from the model, values are parameters)
        f"{succeeded_}, {at}) SELECT %s, %s, %s, %s, %s, %s WHERE (SELECT COUNT(*) FROM {table} a "
        f"WHERE {mine} AND NOT a.{succeeded_} AND a.{at} > COALESCE((SELECT MAX(a.{at}) FROM {table} a "
        f"WHERE {mine} AND a.{succeeded_}), %s)) < %s RETURNING {pk}"
    )
    scope = [sale.merchant_id, sale.member_id, moment(since)]
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                sale.merchant_id,
                sale.pk,
                sale.member_id,
                str(method),
                True,
                moment(now),
                *scope,
                *scope,
                moment(since - timedelta(seconds=1)),
                rules.confirm_attempt_limit,
            ],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else None


def _settle(
    sale: Transaction, rules: SalesSettings, *, method: str, confirmed_by: Any, actor: Any, now: datetime
) -> None:
    reason = Reason("sale", {"sale": sale.pk})
    if sale.stored_value_hold is not None:
        sale.stored_value_spend_entry = ledger.capture_hold(
            hold=sale.stored_value_hold,
            store=sale.store,
            actor=actor,
            reason=reason,
            now=now,
            source=sale.source,
        )
    earning = None
    if sale.points_earned > 0:
        dates = lot_dates(policy_of(sale.merchant), earned_at=now, tz=sale.merchant.tz, return_window=True)
        earning = ledger.Earning(
            amount=sale.points_earned,
            kind=EntryKind.EARN,
            source=sale.source,
            sale_amount=sale.amount_due,
            available_at=dates.available_at,
            expires_at=dates.expires_at,
        )
    if sale.points_hold is not None or earning is not None:
        # Points spent and earned move the member's points account under one lock (issue 13).
        spent, earned = ledger.settle(
            hold=sale.points_hold,
            earning=earning,
            account=ledger.MemberAccount(sale.merchant_id, sale.member_id, AccountKind.POINTS),
            store=sale.store,
            actor=actor,
            reason=reason,
            source=sale.source,
            now=now,
        )
        if spent is not None:
            sale.points_spend_entry = spent
        if earned is not None:
            sale.earn_entry = earned
    if earning is None:
        # A sale without points writes no EARN entry; its spend still counts toward the tier ranking.
        tiers.record_spend(member=sale.member, amount=sale.amount_due, source=sale.source, now=now)
    sale.status = TransactionStatus.CONFIRMED
    sale.confirm_method = method
    sale.confirmed_by = confirmed_by
    sale.confirmed_at = now
    sale.otp_hash = ""
    sale.otp_expires_at = None
    sale.stamp(actor)
    prepared.save(sale)
    signals.sale_confirmed.send(sender=Transaction, sale=sale)
    events.publish(merchant_id=sale.merchant_id, type="sale.confirmed", payload=_sale_event(sale))


@dataclass(frozen=True)
class OtpSent:
    phone: str
    expires_at: datetime


def request_otp(
    *, transaction: Transaction | SaleRef, actor: Any = None, now: datetime | None = None
) -> OtpSent:
    """Text the member a 6-digit code for this sale, valid 5 minutes; it replaces any earlier code."""
    now = now or timezone.now()
    with atomic():
        sale = _lock(transaction)
        authorise(actor, "sales.confirm_transaction", merchant=sale.merchant_id, store=sale.store)
        _ensure_pending(sale)
        rules = SalesSettings.for_merchant(sale.merchant)
        _ensure_method_allowed(rules, ConfirmMethod.OTP, sale)
        _ensure_not_locked(sale, rules, now)
        if not sale.member.phone:
            raise ValidationFailed(_("This member has no phone number."), code="no_phone")
        code = f"{secrets.randbelow(10**6):06d}"
        sale.otp_hash = _otp_digest(sale, code)
        sale.otp_expires_at = now + OTP_LIFETIME
        sale.save(update_fields=["otp_hash", "otp_expires_at", "updated_at"])
        phone = str(sale.member.phone)
        with translation.override(sale.merchant.default_language):
            text = str(
                _(
                    "%(merchant)s: your code to confirm the purchase of %(amount)s is %(code)s "
                    "(valid 5 minutes)."
                )
                % {
                    "merchant": sale.merchant.name,
                    "amount": format_money(sale.amount_due, sale.currency),
                    "code": code,
                }
            )
        send_sms(merchant=sale.merchant, phone=phone, text=text)
    return OtpSent(phone=phone, expires_at=now + OTP_LIFETIME)


# --- void and refund ----------------------------------------------------------------------------------


def void_transaction(
    *, transaction: Transaction | SaleRef, actor: Any = None, reason: str = "", now: datetime | None = None
) -> Transaction:
    """Cancel a sale. Pending: release its holds. Confirmed: reverse every entry it made (what refunds
    have not already reversed): spends first, so the points they give back can cover the earned ones
    taken back. Returns the sale as voided, with its lines (`transaction`, when a `Transaction`, is
    refreshed)."""
    now = now or timezone.now()
    with atomic():
        sale = _lock(transaction, lines=True, entries=True, points_account=True)
        authorise(actor, "sales.void_transaction", merchant=sale.merchant_id, store=sale.store)
        if sale.status == TransactionStatus.VOIDED:
            raise Conflict(_("This sale is already voided."), code="already_voided")
        if sale.status == TransactionStatus.PENDING:
            for hold in (sale.points_hold, sale.stored_value_hold):
                if hold is not None:
                    ledger.release_hold(hold=hold, actor=actor, source=sale.source)
        else:
            if sale.discount_parts and not _returned(sale):
                occasions.release_uses(
                    member_id=sale.member_id, parts=occasions.stored_discounts(sale.discount_parts)
                )
            note = Reason("sale_voided", {"sale": sale.pk}, reason)
            for entry in (getattr(sale, name) for name in _ENTRIES):
                if entry is None:
                    continue
                ledger.reverse(
                    entry=entry, store=sale.store, actor=actor, source=sale.source, reason=note, now=now
                )
            if sale.earn_entry is None:
                tiers.return_spend(
                    member=sale.member, source=sale.source, cause=f"void:{sale.pk}", amount=None
                )
            bonuses.voided(sale, actor=actor, now=now)  # issue 15 §5: its bonuses taken back
        sale.status = TransactionStatus.VOIDED
        sale.voided_at = now
        sale.voided_by = actor if is_user(actor) else None
        sale.void_reason = reason[:300]
        sale.stamp(actor)
        prepared.save(sale)
        signals.sale_voided.send(sender=Transaction, sale=sale)
        events.publish(merchant_id=sale.merchant_id, type="sale.voided", payload=_sale_event(sale))
    if isinstance(transaction, Transaction):
        transaction.refresh_from_db()
    return sale


def _returned(sale: Transaction) -> bool:
    """Every line of the sale (read with what refunds took of it) was brought back."""
    return all(getattr(line, "refunded_quantity", 0) >= line.quantity for line in sale.lines.all())


#: The ledger entries a sale makes, in the order a void reverses them: spends first, so the points
#: they give back can cover the earned ones taken back.
_ENTRIES = ("points_spend_entry", "stored_value_spend_entry", "earn_entry")


def refunded_quantities(sale: Transaction) -> dict[int, tuple[int, int]]:
    """line id → (quantity refunded, amount refunded) so far."""
    rows = (
        RefundLine.objects.filter(refund__transaction=sale)
        .values("line_id")
        .annotate(quantity=Sum("quantity"), amount=Sum("amount"))
    )
    return {row["line_id"]: (row["quantity"], row["amount"]) for row in rows}


class PlannedLine(NamedTuple):
    """One line of a refund: the units returned, the money and the earned points they take back (None
    for a sale whose lines kept no points: the refund takes back a share of the sale's)."""

    line: TransactionLine
    quantity: int
    amount: int
    points: int | None


@dataclass(frozen=True)
class RefundPlan:
    """What a refund will return, before anything is written: the lines (line, quantity, amount), the
    money, the earned points to take back and the spent points and stored value to give back. The preview
    shows it and `refund_transaction` records it: one computation (issue 14)."""

    lines: list[PlannedLine]
    amount: int
    points_reversed: int
    points_returned: int
    stored_value_returned: int
    completes_return: bool


def _plan_refund(sale: Transaction, lines: dict[int, int] | None) -> RefundPlan:
    """The refund of `lines` (line id → quantity; None: what is left) of `sale`, read by `_lock` with its
    lines and entries. Refuses what cannot be refunded."""
    if sale.status != TransactionStatus.CONFIRMED:
        raise Conflict(_("Only a confirmed sale can be refunded."), code="not_confirmed", status=sale.status)
    sale_lines = {line.pk: line for line in sale.lines.all()}
    # Each line was read with what refunds took of it (`selectors.lines_with_refunds`).
    done = {
        pk: (getattr(line, "refunded_quantity"), getattr(line, "refunded_amount"))  # noqa: B009
        for pk, line in sale_lines.items()
    }
    left = {pk: line.quantity - done[pk][0] for pk, line in sale_lines.items()}
    wanted = {pk: qty for pk, qty in left.items() if qty > 0} if lines is None else dict(lines)
    if not wanted or not any(wanted.values()):
        raise ValidationFailed(_("Nothing left to refund."), code="nothing_to_refund")
    for line_id, quantity in wanted.items():
        if line_id not in sale_lines:
            raise NotFound(
                _("Line %(id)s is not part of this sale.") % {"id": line_id}, code="line_not_found"
            )
        if quantity <= 0 or quantity > left[line_id]:
            raise ValidationFailed(
                _("Line %(id)s: %(wanted)s requested, %(left)s left to refund.")
                % {"id": line_id, "wanted": quantity, "left": left[line_id]},
                code="refund_exceeds_quantity",
                line_id=line_id,
                quantity_left=left[line_id],
            )
    # Each line took back its own points (issue 15 §4) unless the sale was made before lines kept them.
    by_line = all(line.points is not None for line in sale_lines.values())
    refund_lines: list[PlannedLine] = []
    for line_id, quantity in wanted.items():
        line = sale_lines[line_id]
        if quantity == left[line_id]:
            amount = line.amount - done[line_id][1]
        else:
            amount = _floor_share(line.amount, quantity, line.quantity)
        points = None
        if by_line:
            earned = (line.points or 0) if sale.earn_entry_id else 0
            points = share_taken_back(earned, line.quantity, done[line_id][0], quantity)
        refund_lines.append(PlannedLine(line, quantity, amount, points))
    returned = sum(planned.amount for planned in refund_lines)
    completes = all(left[pk] - wanted.get(pk, 0) == 0 for pk in sale_lines)
    # Every refund returns at least one line: nothing refunded yet means no earlier refund to add up.
    before: dict[str, int | None] = (
        sale.refunds.aggregate(
            reversed=Sum("points_reversed"),
            points=Sum("points_returned"),
            value=Sum("stored_value_returned"),
        )
        if any(quantity for quantity, _amount in done.values())
        else {"reversed": 0, "points": 0, "value": 0}
    )

    def share(original: int, already: int | None) -> int:
        remaining = original - (already or 0)
        return remaining if completes else min(_floor_share(original, returned, sale.total_amount), remaining)

    return RefundPlan(
        lines=refund_lines,
        amount=returned,
        points_reversed=(
            sum(planned.points or 0 for planned in refund_lines)
            if by_line
            else share(sale.points_earned if sale.earn_entry_id else 0, before["reversed"])
        ),
        points_returned=share(sale.points_to_spend, before["points"]),
        stored_value_returned=share(sale.stored_value_to_spend, before["value"]),
        completes_return=completes,
    )


def preview_refund(
    *,
    transaction: Transaction | SaleRef,
    lines: dict[int, int] | None = None,
    store: Store | None = None,
    actor: Any = None,
) -> RefundPlan:
    """What `refund_transaction` with the same arguments would record now; writes nothing. Refuses what
    it would refuse."""
    with atomic():
        sale = _lock(transaction, lines=True, entries=True)
        authorise(
            actor,
            selectors.refund_permission(actor, sale.merchant),
            merchant=sale.merchant_id,
            store=store or sale.store,
        )
        return _plan_refund(sale, lines)


def refund_transaction(
    *,
    transaction: Transaction | SaleRef,
    lines: dict[int, int] | None = None,
    store: Store | None = None,
    actor: Any = None,
    api_key: ApiKey | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Refund:
    """Return goods of a confirmed sale (E9): `lines` maps line id → quantity; None returns what is left.

    Arithmetic, all in integers: a partly returned line refunds floor(line amount × quantity / line
    quantity); the refund completing a line refunds what is left of it. Earned points taken back are
    the returned lines' own points (`TransactionLine.points`, issue 15 §4): of a line with P points and
    Q units, returning units up to k in all takes back floor(P × k / Q) in all, so every unit returned
    in any steps gives back P exactly. A return never takes back more than its lines' points, even when
    what is left of the basket falls below a rule's minimum (the bonus was shared among the lines).
    Spent points and stored value given back (and the earned points of a sale made before lines kept
    their points) are each floor(original × returned amount / sale total), and the refund that
    completes the return settles exactly what is left — so the refunds add up to the sale, never more
    (`_plan_refund`, which the preview shows).
    """
    now = now or timezone.now()
    with atomic():
        sale = _lock(transaction, lines=True, entries=True, points_account=True)
        if store is None or store.pk == sale.store_id:
            store = sale.store  # loaded with the sale, its merchant (and so its zone) at hand
        _same_merchant(sale.merchant, store, api_key)
        authorise(
            actor, selectors.refund_permission(actor, sale.merchant), merchant=sale.merchant_id, store=store
        )
        plan = _plan_refund(sale, lines)
        refund = Refund(
            merchant=sale.merchant,
            transaction=sale,
            store=store,
            api_key=api_key,
            amount=plan.amount,
            points_reversed=plan.points_reversed,
            points_returned=plan.points_returned,
            stored_value_returned=plan.stored_value_returned,
            completes_return=plan.completes_return,
            reason=reason[:300],
        )
        refund.stamp(actor)
        prepared.create(refund)
        saved = prepared.bulk_create(
            [
                RefundLine(
                    merchant=sale.merchant,
                    refund=refund,
                    line=planned.line,
                    quantity=planned.quantity,
                    amount=planned.amount,
                    points=planned.points,
                )
                for planned in plan.lines
            ]
        )
        _prefetched(refund, "lines", saved)
        if plan.completes_return and sale.discount_parts:
            occasions.release_uses(
                member_id=sale.member_id, parts=occasions.stored_discounts(sale.discount_parts)
            )
        note = Reason("sale_refund", {"refund": refund.pk, "sale": sale.pk}, reason)
        amounts = dict(
            zip(
                _ENTRIES,
                (refund.points_returned, refund.stored_value_returned, refund.points_reversed),
                strict=True,
            )
        )
        for name in _ENTRIES:
            entry, amount = getattr(sale, name), amounts[name]
            if entry is None or amount <= 0:
                continue
            taken = ledger.reverse(
                entry=entry,
                amount=amount,
                store=store,
                actor=actor,
                source=refund.source,
                reason=note,
                now=now,
            )
            if name == "earn_entry":
                refund.points_shortfall = amount - (-taken.amount if taken is not None else 0)
                if refund.points_shortfall:
                    refund.save(update_fields=["points_shortfall"])
        if sale.earn_entry is None:
            share = (
                None
                if plan.completes_return
                else _floor_share(sale.amount_due, plan.amount, sale.total_amount)
            )
            tiers.return_spend(member=sale.member, source=sale.source, cause=refund.source, amount=share)
        bonuses.refunded(refund, actor=actor, now=now)  # issue 15 §5: taken back by a full refund
        signals.refund_recorded.send(sender=Refund, refund=refund)
        events.publish(merchant_id=sale.merchant_id, type="sale.refunded", payload=_refund_event(refund))
    return refund


# --- points by hand (E4) ------------------------------------------------------------------------------


def _occurred_at(occurred_on: date | None, store: Store, now: datetime) -> datetime:
    """The date staff typed, at noon in the store's zone; today (or no date) is now."""
    if occurred_on is None or occurred_on >= now.astimezone(store.tz).date():
        return now
    return datetime.combine(occurred_on, time(12, 0), tzinfo=store.tz)


def quote_add_points(
    *,
    member: Member | None,
    store: Store | None,
    amount_spent: int,
    occurred_on: date | None = None,
    at: datetime | None = None,
    merchant: Merchant | None = None,
) -> EarnQuote:
    """The points `add_points` gives for `amount_spent`: the earning rules, as for a sale (E4, E5).
    The add-points page shows this before saving; nothing is written. `merchant` when neither member
    nor store is known yet."""
    owner = member.merchant if member is not None else store.merchant if store is not None else merchant
    if owner is None:
        raise ValueError("quote_add_points needs a member, a store or a merchant")
    if at is None:
        now = timezone.now()
        at = _occurred_at(occurred_on, store, now) if store is not None else now
    return points_for(merchant=owner, amount=amount_spent, member=member, store=store, at=at)


@atomic()
def add_points(
    *,
    member: Member,
    store: Store,
    actor: Any,
    amount_spent: int = 0,
    points: int | None = None,
    note: str = "",
    occurred_on: date | None = None,
    record_expired: bool = False,
    now: datetime | None = None,
    account: Account | None = None,
) -> Entry:
    """Add points by hand (E4): for `amount_spent` (points computed by the earning rules) or as given.
    `account`: the member's points account when the caller has it (locked, `ledger.locks`).

    Staff have checked the purchase, so the points are available at once; they expire like earned ones.
    Points dated so far back that they have already expired are refused (`PointsAlreadyExpired`), or,
    with `record_expired`, recorded as earned and expired at once: the earning entry is returned.
    """
    merchant = member.merchant
    _same_merchant(merchant, store)
    authorise(actor, "sales.add_points", merchant=merchant.pk, store=store)
    members.ensure_can_transact(member)
    if amount_spent < 0:
        raise ValidationFailed(_("The amount spent cannot be negative."), code="invalid_amount")
    at = _occurred_at(occurred_on, store, now or timezone.now())
    if points is None:
        points = quote_add_points(member=member, store=store, amount_spent=amount_spent, at=at).points
    if points <= 0:
        raise ValidationFailed(_("There are no points to add."), code="no_points")
    dates = lot_dates(policy_of(merchant), earned_at=at, tz=merchant.tz)
    expires_at = dates.expires_at
    expired_at = expires_at if expires_at is not None and expires_at <= (now or timezone.now()) else None
    if expired_at is not None and not record_expired:
        raise PointsAlreadyExpired(
            earned_on=at.astimezone(store.tz).date(), expired_on=expired_at.astimezone(store.tz).date()
        )
    earning: dict[str, Any] = {
        "account": account or ledger.MemberAccount(merchant.pk, member.pk, AccountKind.POINTS),
        "amount": points,
        "kind": EntryKind.EARN if amount_spent else EntryKind.ADJUST,
        "store": store,
        "actor": actor,
        "source": MANUAL_ADD_SOURCE,
        "reason": Reason("manual_add", note=note),
        "sale_amount": amount_spent or None,
    }
    with atomic():
        if expired_at is not None:
            entry, _expiry_entry = ledger.credit_expired(
                **earning, earned_at=at, expires_at=expired_at, now=now
            )
        else:
            entry = ledger.credit(**earning, available_at=dates.available_at, expires_at=expires_at, now=at)
        # F1: a purchase entered by hand lifts the ranking at once, like a confirmed sale.
        tiers.evaluate_upgrade(member=member, actor=actor, now=now or timezone.now())
        events.publish(merchant_id=merchant.pk, type="points.added", payload=_points_event(entry, member))
    return entry


@atomic()
def deduct_points(
    *,
    member: Member,
    points: int,
    reason: str,
    store: Store,
    actor: Any,
    occurred_on: date | None = None,
    now: datetime | None = None,
) -> Entry:
    """Deduct points by hand (E4), first-expiring first; never below what the member can spend."""
    merchant = member.merchant
    _same_merchant(merchant, store)
    authorise(actor, "sales.deduct_points", merchant=merchant.pk, store=store)
    if points <= 0:
        raise ValidationFailed(_("Enter a positive number of points."), code="no_points")
    if not reason.strip():
        raise ValidationFailed(_("Give a reason for deducting points."), code="reason_required")
    account = ledger.open_account(merchant=merchant, kind=AccountKind.POINTS, member=member)
    entry = ledger.debit(
        account=account,
        amount=points,
        kind=EntryKind.ADJUST,
        store=store,
        actor=actor,
        source=MANUAL_DEDUCT_SOURCE,
        reason=Reason("manual_deduct", note=reason),
        occurred_at=_occurred_at(occurred_on, store, now or timezone.now()),
        now=now,
    )
    events.publish(merchant_id=merchant.pk, type="points.deducted", payload=_points_event(entry, member))
    return entry


def _member_label(member: Member) -> str:
    """How a history names the other member, fixed when written: name and phone, or the number."""
    phone = str(member.phone) if member.phone else ""
    name = member.full_name.strip()
    if name and phone:
        return f"{name} ({phone})"
    return name or phone or f"#{member.pk}"


#: The source of the entries of a transfer a member made in the portal: `portal_transfer:<from>:<to>`.
PORTAL_TRANSFER = "portal_transfer"


@dataclass(frozen=True)
class PointsTransfer:
    """The two entries of a transfer and both points accounts after it, read with their live counters
    (`live_balance`, `spendable`)."""

    out: Entry
    into: Entry
    source_account: Account
    target_account: Account


def transfer_points(
    *,
    source: Member,
    target: Member,
    points: int,
    reason: str,
    actor: Any,
    store: Store | None = None,
    by_member: bool = False,
    now: datetime | None = None,
) -> PointsTransfer:
    """Move `points` of one member's spendable points to another member of the same merchant (issue 15).

    The lots move with their expiry dates, first-expiring first; both histories show the movement with
    the other member named as at the time, and the staff's reason as the note. `by_member`: the source
    member sent them from the portal (`tessera.portal.services.send_points`, which checks the merchant
    allows it); a message is optional then, and the entries' source says so."""
    merchant = source.merchant
    _same_merchant(merchant, target, store)
    authorise(actor, "sales.transfer_points", merchant=merchant.pk, store=store)
    if source.pk == target.pk:
        raise ValidationFailed(_("Points cannot be moved to the same member."), code="same_member")
    if isinstance(points, bool) or not isinstance(points, int) or not 0 < points <= limits.MAX_POINTS:
        raise ValidationFailed(_("Enter a positive number of points."), code="no_points")
    reason = (reason or "").strip()
    if not reason and not by_member:
        raise ValidationFailed(_("Give a reason for moving points."), code="reason_required")
    members.ensure_can_transact(source)
    members.ensure_can_transact(target)
    with atomic():
        src = ledger.open_account(merchant=merchant, kind=AccountKind.POINTS, member=source)
        tgt = ledger.open_account(merchant=merchant, kind=AccountKind.POINTS, member=target)
        source_args = {
            "member": _member_label(target),
            "member_public": public_name(target),
            "member_id": target.pk,
        }
        target_args = {
            "member": _member_label(source),
            "member_public": public_name(source),
            "member_id": source.pk,
        }
        out, into = ledger.transfer_amount(
            source_account=src,
            target_account=tgt,
            amount=points,
            actor=actor,
            source_reason=Reason("points_transfer_out", source_args, reason),
            target_reason=Reason("points_transfer_in", target_args, reason),
            source=f"{PORTAL_TRANSFER if by_member else 'points_transfer'}:{source.pk}:{target.pk}",
            now=now,
        )
        accounts = {
            a.pk: a for a in with_live_balances(Account.objects.filter(pk__in=[src.pk, tgt.pk]), now=now)
        }
        payload = {"from_member_id": source.pk, "to_member_id": target.pk, "points": points}
        events.publish(merchant_id=merchant.pk, type="points.transferred", payload=payload)
    return PointsTransfer(out, into, accounts[src.pk], accounts[tgt.pk])


# --- how sales are confirmed: the sales settings and the stores' own rules (issue 15 §7) -----------


def save_sales_settings(*, settings: SalesSettings, actor: Any = None) -> SalesSettings:
    """Change the merchant's sales settings; the tills see them on their next request (the save renews
    the merchant's configuration version). Sales already pending are confirmed by the new rules."""
    authorise(actor, "sales.change_salessettings", merchant=settings.merchant_id)
    settings.stamp(actor)
    settings.save()
    return settings


def save_store_confirmation(*, confirmation: StoreConfirmation, actor: Any = None) -> StoreConfirmation:
    """Give a store its own confirmation methods and thresholds, or change them: they replace the sales
    settings' for the sales made there."""
    action = "add" if confirmation._state.adding else "change"
    authorise(actor, f"sales.{action}_storeconfirmation", merchant=confirmation.merchant_id)
    if confirmation.store.merchant_id != confirmation.merchant_id:
        raise NotFound(_("No such store."), code="store_not_found")
    confirmation.stamp(actor)
    confirmation.save()
    return confirmation


def delete_store_confirmation(*, confirmation: StoreConfirmation, actor: Any = None) -> None:
    """The store confirms its sales by the sales settings again. Its history keeps the rules it had."""
    authorise(actor, "sales.delete_storeconfirmation", merchant=confirmation.merchant_id)
    confirmation.delete()
