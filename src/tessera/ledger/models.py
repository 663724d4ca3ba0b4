"""The ledger: accounts, append-only entries, point lots (DESIGN.md "The ledger").

Invariants, each backed by the database:
- `Account.balance` == sum of its entries' amounts == sum of its lots' `remaining` (verify-ledger).
- `balance >= 0`, `0 <= pending <= balance`, `0 <= held`, `pending + held <= balance`: no overdraft.
- `balance <= MAX_BALANCE` (core.limits): services refuse first with `balance_limit`.
- An entry is never updated or deleted (a PostgreSQL trigger refuses it; the model refuses it too).
- `0 <= lot.remaining <= lot.amount`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import BigIntegerField, Case, F, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tessera.core.limits import MAX_BALANCE
from tessera.core.models import TenantOwned
from tessera.ledger.reasons import describe

#: Points or stored value moved: not "an amount of money" (vi "số tiền") nor "a quantity" (issue 14).
VALUE = pgettext_lazy("ledger value", "amount")


class AccountKind(models.TextChoices):
    POINTS = "points", _("Points")
    STORED_VALUE = "stored_value", _("Stored value")


class Account(TenantOwned):
    """One kind of value for a member, or for a card family (a main card and its sub-cards share one).

    `balance` counts every unit the account holds, pending ones included; `pending` are units not yet
    available (return window); `held` are units reserved by a pending sale. Spendable is
    `balance - pending - held`.
    """

    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="accounts",
    )
    kind = models.CharField(_("kind"), max_length=20, choices=AccountKind.choices)
    balance = models.BigIntegerField(_("balance"), default=0)
    pending = models.BigIntegerField(_("pending"), default=0)
    held = models.BigIntegerField(_("held for pending sales"), default=0)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="account_balance_not_negative"),
            # A ceiling far below 2^63 keeps every sum of balances exact (core.limits.MAX_BALANCE).
            models.CheckConstraint(
                condition=Q(balance__lte=MAX_BALANCE), name="account_balance_within_limit"
            ),
            models.CheckConstraint(
                condition=Q(pending__gte=0, held__gte=0), name="account_pending_held_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(balance__gte=F("pending") + F("held")), name="account_no_overdraft"
            ),
            # One account of each kind per member, so two first purchases at once cannot open two.
            models.UniqueConstraint(
                fields=["merchant", "member", "kind"],
                condition=Q(member__isnull=False),
                name="account_one_per_member_and_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    # The cached counters change only when an entry is written, but lots also expire and become
    # available with time: between two runs of the nightly jobs `balance` still counts units that
    # expired and `pending` units that are due. What the product shows and spends is what they are *now*:
    # `lapsed_units` and `ripe_units` (see `live_counts`) correct them. `ledger.selectors.with_live_balances`
    # reads them in the same statement as the row; an account read without them costs one query on
    # first use (as of that moment).

    @property
    def live_balance(self) -> int:
        """Every unit the account can still use: `balance` less units in lots past their expiry."""
        return self.balance - self._live("lapsed_units")

    @property
    def live_pending(self) -> int:
        """Units not available yet: in lots whose return window is still open (and not expired)."""
        return self.pending - self._live("ripe_units")

    @property
    def spendable(self) -> int:
        """What a spend can take now: released or due, unexpired units, less holds (E10, E11)."""
        return max(self.live_balance - self.live_pending - self.held, 0)

    def _live(self, name: str) -> int:
        if name not in self.__dict__:
            self.__dict__.update(
                Account.objects.filter(pk=self.pk).annotate(**live_counts()).values(*LIVE_COUNTS).get()
            )
        value: int = self.__dict__[name]
        return value

    def forget_live_counts(self) -> None:
        """Drop `lapsed_units`/`ripe_units` read with an older state of the row (after a write)."""
        for name in LIVE_COUNTS:
            self.__dict__.pop(name, None)

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        self.forget_live_counts()


class EntryKind(models.TextChoices):
    EARN = "earn", _("Earn")
    SPEND = "spend", _("Spend")
    EXPIRE = "expire", _("Expire")
    ADJUST = "adjust", _("Adjust")
    TRANSFER = "transfer", _("Transfer")
    TOP_UP = "top_up", _("Top-up")
    BONUS = "bonus", _("Bonus")
    REVERSAL = "reversal", _("Reversal")


class Entry(TenantOwned):
    """One append-only movement of value. A mistake is corrected by a new entry, never by an edit."""

    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.PROTECT, related_name="entries"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=EntryKind.choices)
    amount = models.BigIntegerField(VALUE, help_text=_("Positive adds value, negative takes it."))
    balance_after = models.BigIntegerField(_("balance after"))
    store = models.ForeignKey(
        "tenancy.Store",
        verbose_name=_("store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    #: What caused it, e.g. "sale:42", "card:17", "import:3". Kept as text so the ledger depends on nothing.
    source = models.CharField(_("source"), max_length=80, blank=True, db_index=True)
    #: Why, as a code of `ledger.reasons.TEXTS` and its arguments, rendered in the reader's language;
    #: `reason` holds only what a person typed (see ledger/reasons.py).
    reason_code = models.CharField(_("reason code"), max_length=40, blank=True)
    reason_args = models.JSONField(_("reason arguments"), default=dict, blank=True)
    reason = models.CharField(_("note"), max_length=300, blank=True)
    reverses = models.ForeignKey(
        "self",
        verbose_name=_("reverses"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversals",
    )
    #: Spend in money terms when known (E4 "amount spent"), in the merchant currency's minor unit.
    sale_amount = models.BigIntegerField(_("amount spent"), null=True, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"), db_index=True)

    STORE_FIELD = "store"

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        ordering = ["-occurred_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="entry_amount_not_zero"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="entry_balance_after_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["account", "occurred_at"])]
        permissions = [("export_entry", _("Can print/export ledger entries"))]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount:+d}"

    @property
    def description(self) -> str:
        """Why, for staff, in the active language: the reason's text, then any note."""
        return describe(self.reason_code, self.reason_args, self.reason)

    @property
    def member_description(self) -> str:
        """Why, for the member, in plain words and without staff notes."""
        return describe(
            self.reason_code,
            self.reason_args,
            self.reason,
            kind=self.kind,
            amount=self.amount,
            for_member=True,
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise RuntimeError("Ledger entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("Ledger entries are append-only.")


class Lot(TenantOwned):
    """Units that arrived together: they become available at `available_at` and expire at `expires_at`."""

    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.PROTECT, related_name="lots"
    )
    entry = models.ForeignKey(Entry, verbose_name=_("entry"), on_delete=models.PROTECT, related_name="lots")
    amount = models.BigIntegerField(VALUE)
    remaining = models.BigIntegerField(_("remaining"))
    earned_at = models.DateTimeField(_("earned at"))
    available_at = models.DateTimeField(_("available from"))
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    #: False while the lot is counted in `Account.pending`; set by the release task once available.
    released = models.BooleanField(_("released"), default=True)

    class Meta:
        verbose_name = _("lot")
        verbose_name_plural = _("lots")
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining__gte=0, remaining__lte=F("amount")), name="lot_remaining_within_amount"
            ),
        ]
        indexes = [
            models.Index(
                fields=["account", "expires_at"], condition=Q(remaining__gt=0), name="lot_open_by_expiry"
            ),
            models.Index(fields=["expires_at"], condition=Q(remaining__gt=0), name="lot_open_expiry"),
            models.Index(fields=["available_at"], condition=Q(released=False), name="lot_unreleased"),
        ]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.amount}"


class LotUse(models.Model):
    """Which lots an entry drew from (spend, expire) or gave back to (reversal), and how much."""

    #: Denormalised like every tenant table: `merchant_id` is the distribution column (DESIGN "Tenancy").
    merchant = models.ForeignKey("tenancy.Merchant", on_delete=models.PROTECT, related_name="+")
    entry = models.ForeignKey(Entry, on_delete=models.PROTECT, related_name="lot_uses")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="uses")
    amount = models.BigIntegerField(help_text="Negative draws from the lot, positive gives back to it.")

    class Meta:
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="lotuse_amount_not_zero")]

    def __str__(self) -> str:
        return f"{self.amount:+d} @ lot {self.lot_id}"


class HoldStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    CAPTURED = "captured", _("Captured")
    RELEASED = "released", _("Released")


class Hold(TenantOwned):
    """Units reserved by a pending sale: counted in `Account.held` until captured (spent) or released."""

    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.PROTECT, related_name="holds"
    )
    amount = models.BigIntegerField(VALUE)
    source = models.CharField(_("source"), max_length=80, db_index=True)
    status = models.CharField(
        _("status"), max_length=20, choices=HoldStatus.choices, default=HoldStatus.ACTIVE
    )
    captured_entry = models.OneToOneField(
        Entry, on_delete=models.PROTECT, null=True, blank=True, related_name="capturing_hold"
    )

    class Meta:
        verbose_name = _("hold")
        verbose_name_plural = _("holds")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="hold_amount_positive")]


class ExpiryNotice(TenantOwned):
    """A due warning that points will expire (E10); the marketing app sends it."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="expiry_notices")
    amount = models.BigIntegerField(_("points expiring"))
    expires_at = models.DateTimeField(_("expires at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("expiry notice")
        verbose_name_plural = _("expiry notices")
        constraints = [
            models.UniqueConstraint(
                fields=["account", "expires_at"], name="expiry_notice_once_per_account_and_date"
            )
        ]


# --- what the cached counters cannot know yet ------------------------------------------------------


def unexpired(now: datetime) -> Q:
    """Lots whose units can still be used at `now`. The one definition of "expired" for spends and for
    every balance shown: a lot past `expires_at` is gone even before the nightly job writes it off."""
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)


#: The annotations `live_counts` adds to an account row.
LIVE_COUNTS = ("lapsed_units", "ripe_units")


def live_counts(now: datetime | None = None, *, of: str = "") -> dict[str, Any]:
    """Annotations for an Account queryset, as of `now`: `lapsed_units`, the units left in lots past
    their expiry (expired, released or not), and `ripe_units`, the units of unreleased lots whose window
    passed or that lapsed. Then the account's `balance - lapsed_units` is what it really holds,
    `pending - ripe_units` what is still to come, and the difference less `held` what can be spent.

    Two correlated sums over the account's open lots, read with the row: no extra statement. Both are
    skipped when they cannot be non-zero (an empty account, nothing pending); the first reads the
    partial index `lot_open_by_expiry` (account, expires_at) WHERE remaining > 0.

    `of` names an account joined to another model's queryset (a `FilteredRelation`): the annotations
    are then `<of>_lapsed_units` and `<of>_ripe_units`, for `adopt_live_counts`."""
    now = now or timezone.now()
    field = f"{of}__" if of else ""
    open_lots = (
        Lot.objects.filter(account=OuterRef(f"{field}id" if of else "pk"), remaining__gt=0)
        .order_by()
        .values("account")
    )

    def total(lots: models.QuerySet[Any, Any]) -> Coalesce:
        return Coalesce(
            Subquery(lots.annotate(total=Sum("remaining")).values("total")[:1]),
            Value(0),
            output_field=BigIntegerField(),
        )

    prefix = f"{of}_" if of else ""
    return {
        f"{prefix}lapsed_units": Case(
            When(**{f"{field}balance": 0}, then=Value(0)),
            default=total(open_lots.filter(expires_at__lte=now)),
            output_field=BigIntegerField(),
        ),
        f"{prefix}ripe_units": Case(
            When(**{f"{field}pending": 0}, then=Value(0)),
            default=total(
                open_lots.filter(released=False).filter(Q(available_at__lte=now) | Q(expires_at__lte=now))
            ),
            output_field=BigIntegerField(),
        ),
    }


def adopt_live_counts(row: models.Model, of: str) -> Account | None:
    """The account `row` was read with as `of` (see `live_counts(of=...)`), holding its live counters;
    None when the row has no such account."""
    account: Account | None = getattr(row, of, None)  # not set when the join found no row
    if account is not None:
        for name in LIVE_COUNTS:
            account.__dict__[name] = getattr(row, f"{of}_{name}")
    return account
