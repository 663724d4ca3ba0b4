"""Point-of-sale endpoints: lookup, quote, transactions, points (E1, E2, E4, E9, E11).

Thin: parse, resolve the merchant and store from the API key, call a service, shape the answer. Every
POST runs through `core.idempotency.idempotent`, so a retried request gets the first answer back.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Query, Router

from tessera.cards.balances import Accounts, balances_of
from tessera.cards.customers import find_customer, identify_cardholder
from tessera.cards.models import Card
from tessera.cards.selectors import find_card
from tessera.core.errors import NotFound, PermissionDenied, ValidationFailed
from tessera.core.idempotency import idempotent, ignored_key_header, key_header
from tessera.core.limits import occurred_on_window
from tessera.core.problem import ERRORS
from tessera.core.schemas import Schema
from tessera.ledger.models import Entry
from tessera.members.models import Member
from tessera.rewards.occasions import Discount, StoredDiscount, stored_discounts
from tessera.rules.schemas import DiscountOut
from tessera.sales import selectors, services, stored_value
from tessera.sales.models import Refund, SalesSettings, Transaction, TransactionStatus
from tessera.sales.schemas import (
    BalancesOut,
    CardRefundIn,
    CardSummary,
    ConfirmIn,
    LineOut,
    LookupOut,
    MemberSummary,
    OtpOut,
    PointsAddIn,
    PointsDeductIn,
    PointsOut,
    PointsTransferIn,
    PointsTransferOut,
    QuoteOut,
    RefundIn,
    RefundLineOut,
    RefundOut,
    SaleIn,
    StoredValueEntryOut,
    TipReversalIn,
    TopUpIn,
    TopUpOut,
    TransactionIn,
    TransactionOut,
    VoidIn,
)
from tessera.tenancy.auth import ApiKeyAuth, ApiRequest
from tessera.tenancy.models import Scope, Store
from tessera.tiers.selectors import STATE_WITH_MEMBER, tiers_of

router = Router(tags=["pos"], auth=ApiKeyAuth(Scope.POS, Scope.INTEGRATION, Scope.ADMIN))


# --- context ------------------------------------------------------------------------------------------


def _sale(request: ApiRequest, pk: int) -> Transaction:
    return selectors.get_sale(merchant=request.auth.merchant, pk=pk, store=request.auth.store)


def _sale_ref(request: ApiRequest, pk: int) -> services.SaleRef:
    """The sale named, for a service that finds and locks it in one statement (404 when it is not the
    key's merchant's, or not in a store-bound key's store)."""
    return services.SaleRef(merchant=request.auth.merchant, pk=pk, store=request.auth.store)


def _occurred_on(day: date | None, store: Store) -> date | None:
    """A date within the documented window (core.limits), in the store's zone: a mistyped year neither
    rewrites last decade's history nor books points in the future."""
    if day is not None:
        earliest, latest = occurred_on_window(timezone.localdate(timezone=store.tz))
        if not earliest <= day <= latest:
            raise ValidationFailed(
                _("occurred_on must be between %(earliest)s and %(latest)s.")
                % {"earliest": earliest.isoformat(), "latest": latest.isoformat()},
                code="occurred_on_out_of_range",
                field="occurred_on",
                earliest=earliest.isoformat(),
                latest=latest.isoformat(),
            )
    return day


def _sale_lines(data: SaleIn) -> list[services.SaleLine]:
    return [
        services.SaleLine(
            sku=line.sku,
            category=line.category,
            labels=line.labels,
            name=line.name,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
        )
        for line in data.lines
    ]


# --- shaping ------------------------------------------------------------------------------------------


def _balances(member: Member, card: Any, accounts: Accounts | None = None) -> BalancesOut:
    b = balances_of(member, card, accounts=accounts)
    return BalancesOut(
        points=b.points,
        points_available=b.points_available,
        points_pending=b.points_pending,
        points_held=b.points_held,
        stored_value=b.stored_value,
        stored_value_available=b.stored_value_available,
    )


def _refund_out(refund: Refund) -> RefundOut:
    return RefundOut(
        id=refund.pk,
        transaction_id=refund.transaction_id,
        store_code=refund.store.code,
        amount=refund.amount,
        points_reversed=refund.points_reversed,
        points_shortfall=refund.points_shortfall,
        points_returned=refund.points_returned,
        stored_value_returned=refund.stored_value_returned,
        completes_return=refund.completes_return,
        lines=[
            RefundLineOut(line_id=r.line_id, quantity=r.quantity, amount=r.amount, points_reversed=r.points)
            for r in refund.lines.all()
        ],
        created_at=refund.created_at,
    )


def _sale_out(sale: Transaction) -> TransactionOut:
    """The sale as the services return it (its lines and refunds loaded with it): nothing is read again
    after a write (issue 13)."""
    lines = list(sale.lines.all())
    refunds = selectors.refunds_of(sale)
    if lines and not hasattr(lines[0], "refunded_quantity"):
        refunded: dict[int, int] = {}
        for refund in refunds:
            for returned in refund.lines.all():
                refunded[returned.line_id] = refunded.get(returned.line_id, 0) + returned.quantity
        for line in lines:
            line.refunded_quantity = refunded.get(line.pk, 0)  # type: ignore[attr-defined]
    return TransactionOut(
        id=sale.pk,
        status=sale.status,  # type: ignore[arg-type]
        store_code=sale.store.code,
        member_id=sale.member_id,
        card_id=sale.card_id,
        currency=sale.currency,
        total_amount=sale.total_amount,
        discount_amount=sale.discount_amount,
        discounts=[_discount_out(part) for part in stored_discounts(sale.discount_parts or [])],
        amount_due=sale.amount_due,
        points_earned=sale.points_earned,
        earn_explanation=sale.earn_explanation,
        points_to_spend=sale.points_to_spend,
        stored_value_to_spend=sale.stored_value_to_spend,
        external_ref=sale.external_ref,
        confirm_method=sale.confirm_method,
        confirm_methods=selectors.confirm_methods(sale, SalesSettings.for_merchant(sale.merchant))
        if sale.status == TransactionStatus.PENDING
        else [],
        confirmed_at=sale.confirmed_at,
        locked=sale.locked_at is not None,
        occurred_at=sale.occurred_at,
        lines=[
            LineOut(
                id=line.pk,
                sku=line.sku,
                category=line.category,
                labels=line.labels or {},
                name=line.name,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
                points=line.points,
                refunded_quantity=getattr(line, "refunded_quantity", 0),
            )
            for line in lines
        ],
        refunds=[_refund_out(refund) for refund in refunds],
    )


def _points_out(entry: Entry, member: Member) -> PointsOut:
    account = entry.account  # the row the entry was written to, as it is now
    return PointsOut(
        entry_id=entry.pk,
        member_id=member.pk,
        points=entry.amount,
        points_balance=account.live_balance,
        points_available=account.spendable,
        occurred_at=entry.occurred_at,
    )


def _mask(phone: str) -> str:
    return (
        phone[:-4].translate(str.maketrans("0123456789", "•" * 10)) + phone[-4:] if len(phone) > 4 else phone
    )


# --- endpoints ----------------------------------------------------------------------------------------


class LookupQuery(Schema):
    code: str | None = None
    phone: str | None = None


@router.get("/lookup", response={200: LookupOut, **ERRORS}, summary="Find a member by card or phone")
def lookup(request: ApiRequest, query: Query[LookupQuery]) -> LookupOut:
    """By `code` (card number, or the QR payload `TSR1:<number>`) or by `phone`: who the member is, what
    the cashier should know (preferences), their balances and card (E1, C1)."""
    if not (query.code or query.phone):
        raise ValidationFailed(_("Give a code or a phone."), code="customer_required")
    customer = find_customer(
        merchant=request.auth.merchant, code=query.code, phone=query.phone, with_accounts=True
    )
    card, member = customer.card, customer.member
    return LookupOut(
        member=MemberSummary(
            id=member.pk,
            name=member.full_name,
            phone=str(member.phone) if member.phone else None,
            status=member.status,
            preferences=member.preferences,
        )
        if member
        else None,
        card=CardSummary(id=card.pk, number=card.number, type=str(card.type), status=card.status)
        if card
        else None,
        balances=_balances(member, card, customer.accounts) if member else None,
    )


def _quote(request: ApiRequest, data: SaleIn) -> QuoteOut:
    ctx = request.auth
    customer = identify_cardholder(merchant=ctx.merchant, given=data, with_accounts=True)
    quote = services.quote_sale(
        merchant=ctx.merchant,
        store=ctx.acting_store(data.store_code),
        member=customer.member,
        card=customer.card,
        lines=_sale_lines(data),
        points_to_spend=data.points_to_spend,
        stored_value_to_spend=data.stored_value_to_spend,
        accounts=customer.accounts,
    )
    return QuoteOut(
        **{
            **quote.__dict__,
            "benefits": [{"code": b.code, "label": b.label} for b in quote.benefits],
            "discounts": [_discount_out(part) for part in quote.discounts],
        }
    )


def _discount_out(part: Discount | StoredDiscount) -> DiscountOut:
    return DiscountOut(
        name=part.name,
        occasion_id=part.occasion,
        percent=part.percent,
        amount=part.amount,
        explanation=str(part.explanation),
    )


@router.post("/quote", response={200: QuoteOut, **ERRORS}, summary="Quote a basket (no side effects)")
def quote(request: ApiRequest, data: SaleIn, idempotency_key: str | None = ignored_key_header()) -> QuoteOut:
    """Before payment: the tier discount and benefits, the points the basket earns and what the member
    can spend (E1). Changes nothing, so it stores nothing: no Idempotency-Key is needed."""
    return _quote(request, data)


@router.post("/transactions", response={201: TransactionOut, **ERRORS}, summary="Create a pending sale")
def create_transaction(
    request: ApiRequest, data: TransactionIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """Records the sale as pending and holds the points and stored value it spends; balances change only
    when it is confirmed (E2)."""

    def work() -> tuple[int, TransactionOut]:
        ctx = request.auth
        customer = identify_cardholder(merchant=ctx.merchant, given=data)
        sale = services.create_transaction(
            merchant=ctx.merchant,
            store=ctx.acting_store(data.store_code),
            member=customer.member,
            card=customer.card,
            lines=_sale_lines(data),
            points_to_spend=data.points_to_spend,
            stored_value_to_spend=data.stored_value_to_spend,
            external_ref=data.external_ref,
            note=data.note,
            api_key=request.auth.key,
        )
        return 201, _sale_out(sale)

    return idempotent(
        request, merchant=request.auth.merchant, key=idempotency_key, work=work, claim_at_end=True
    )


@router.get("/transactions/{transaction_id}", response={200: TransactionOut, **ERRORS}, summary="A sale")
def get_transaction(request: ApiRequest, transaction_id: int) -> TransactionOut:
    return _sale_out(_sale(request, transaction_id))


@router.post(
    "/transactions/{transaction_id}/confirm",
    response={200: TransactionOut, **ERRORS},
    summary="Confirm a sale (second step)",
)
def confirm_transaction(
    request: ApiRequest, transaction_id: int, data: ConfirmIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """With the member's PIN, the texted one-time code, or a second staff member's credentials (E2).
    Only now are points spent and earned. Wrong PINs/codes are limited (423 `confirmation_locked`)."""

    def work() -> tuple[int, TransactionOut]:
        staff_user = None
        if data.method == "staff":
            staff_user = services.authenticate_second_staff(
                request=request, username=data.staff_username or "", password=data.staff_password or ""
            )
            if staff_user is None:
                raise PermissionDenied(
                    _("Wrong staff user name or password."), code="invalid_staff_credentials"
                )
        sale = services.confirm_transaction(
            transaction=_sale_ref(request, transaction_id),
            method=data.method,
            pin=data.pin,
            otp=data.otp,
            staff_user=staff_user,
        )
        return 200, _sale_out(sale)

    return idempotent(
        request, merchant=request.auth.merchant, key=idempotency_key, work=work, claim_at_end=True
    )


@router.post(
    "/transactions/{transaction_id}/otp", response={200: OtpOut, **ERRORS}, summary="Text the member a code"
)
def request_otp(
    request: ApiRequest, transaction_id: int, idempotency_key: str = key_header()
) -> HttpResponse:
    """Sends a 6-digit code, valid 5 minutes, to the member's phone; confirm with method=otp."""

    def work() -> tuple[int, OtpOut]:
        sent = services.request_otp(transaction=_sale_ref(request, transaction_id))
        return 200, OtpOut(sent_to=_mask(sent.phone), expires_at=sent.expires_at)

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


@router.post(
    "/transactions/{transaction_id}/void", response={200: TransactionOut, **ERRORS}, summary="Void a sale"
)
def void_transaction(
    request: ApiRequest, transaction_id: int, data: VoidIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """Pending: releases the holds. Confirmed: reverses every point and value movement of the sale (E9)."""

    def work() -> tuple[int, TransactionOut]:
        sale = services.void_transaction(transaction=_sale_ref(request, transaction_id), reason=data.reason)
        return 200, _sale_out(sale)

    return idempotent(
        request, merchant=request.auth.merchant, key=idempotency_key, work=work, claim_at_end=True
    )


@router.post(
    "/transactions/{transaction_id}/refunds", response={201: RefundOut, **ERRORS}, summary="Refund goods"
)
def refund_transaction(
    request: ApiRequest, transaction_id: int, data: RefundIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """Whole (omit `lines`) or per line. Earned points are taken back and spent points and value given
    back in proportion to the amount returned, rounded down; the refund completing the return settles
    the remainder exactly (E9)."""

    def work() -> tuple[int, RefundOut]:
        store = request.auth.named_store(data.store_code)
        lines: dict[int, int] | None = None
        if data.lines is not None:
            lines = {}
            for line in data.lines:
                lines[line.line_id] = lines.get(line.line_id, 0) + line.quantity
        refund = services.refund_transaction(
            transaction=_sale_ref(request, transaction_id),
            lines=lines,
            store=store,
            api_key=request.auth.key,
            reason=data.reason,
        )
        return 201, _refund_out(refund)

    return idempotent(
        request, merchant=request.auth.merchant, key=idempotency_key, work=work, claim_at_end=True
    )


@router.post("/points/add", response={201: PointsOut, **ERRORS}, summary="Add points by hand")
def add_points(request: ApiRequest, data: PointsAddIn, idempotency_key: str = key_header()) -> HttpResponse:
    """Date, amount spent, points (computed from the amount when omitted), note (E4)."""

    def work() -> tuple[int, PointsOut]:
        holder = identify_cardholder(
            merchant=request.auth.merchant,
            given=data,
            lock_points=True,
            member_related=STATE_WITH_MEMBER if tiers_of(request.auth.merchant) else (),
        )
        member = holder.member
        store = request.auth.acting_store(data.store_code)
        entry = services.add_points(
            account=holder.points_account,
            member=member,
            store=store,
            actor=None,
            amount_spent=data.amount_spent,
            points=data.points,
            note=data.note,
            occurred_on=_occurred_on(data.occurred_on, store),
            record_expired=data.record_expired,
        )
        return 201, _points_out(entry, member)

    return idempotent(
        request, merchant=request.auth.merchant, key=idempotency_key, work=work, claim_at_end=True
    )


@router.post("/points/deduct", response={201: PointsOut, **ERRORS}, summary="Deduct points by hand")
def deduct_points(
    request: ApiRequest, data: PointsDeductIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """Date, points, reason (E4). Never below what the member can spend (409 `insufficient_balance`)."""

    def work() -> tuple[int, PointsOut]:
        member = identify_cardholder(merchant=request.auth.merchant, given=data).member
        store = request.auth.acting_store(data.store_code)
        entry = services.deduct_points(
            member=member,
            points=data.points,
            reason=data.reason,
            store=store,
            actor=None,
            occurred_on=_occurred_on(data.occurred_on, store),
        )
        return 201, _points_out(entry, member)

    return idempotent(
        request, merchant=request.auth.merchant, key=idempotency_key, work=work, claim_at_end=True
    )


@router.post(
    "/points/transfer", response={201: PointsTransferOut, **ERRORS}, summary="Move points between members"
)
def transfer_points(
    request: ApiRequest, data: PointsTransferIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """Move spendable points from one member to another of the merchant, lots with their expiry dates
    (issue 15). 409 `insufficient_balance` when the giver cannot spend that many, 422 `same_member`,
    404 when either member is not the merchant's."""

    def work() -> tuple[int, PointsTransferOut]:
        merchant = request.auth.merchant
        source = identify_cardholder(merchant=merchant, given=data.source).member
        target = identify_cardholder(merchant=merchant, given=data.target).member
        store = request.auth.acting_store(data.store_code)
        moved = services.transfer_points(
            source=source, target=target, points=data.points, reason=data.reason, actor=None, store=store
        )
        return 201, PointsTransferOut(
            points=data.points,
            source=_account_out(moved.out, source, moved.source_account),
            target=_account_out(moved.into, target, moved.target_account),
        )

    return idempotent(
        request, merchant=request.auth.merchant, key=idempotency_key, work=work, claim_at_end=True
    )


def _account_out(entry: Entry, member: Member, account: Any) -> PointsOut:
    return PointsOut(
        entry_id=entry.pk,
        member_id=member.pk,
        points=entry.amount,
        points_balance=account.live_balance,
        points_available=account.spendable,
        occurred_at=entry.occurred_at,
    )


# --- stored value (E6) --------------------------------------------------------------------------------


def _stored_value_card(request: ApiRequest, code: str) -> Card:
    card = find_card(merchant=request.auth.merchant, code=code)
    if card is None:
        raise NotFound(_("No card with this number."), code="card_not_found")
    return card


def _entry_out(entry: Entry) -> StoredValueEntryOut:
    return StoredValueEntryOut(
        entry_id=entry.pk,
        amount=entry.amount,
        stored_value_balance=entry.balance_after,
        occurred_at=entry.occurred_at,
    )


@router.post("/stored-value/top-ups", response={201: TopUpOut, **ERRORS}, summary="Top up a card")
def top_up(request: ApiRequest, data: TopUpIn, idempotency_key: str = key_header()) -> HttpResponse:
    """Loads money paid in cash, by bank card or transfer onto a stored-value card, with the merchant's
    best matching top-up bonus (value on the card and/or points to the member). Spend it with
    `stored_value_to_spend` on a sale."""

    def work() -> tuple[int, TopUpOut]:
        card = _stored_value_card(request, data.card_code)
        record = stored_value.top_up(
            card=card,
            amount=data.amount,
            payment_method=data.payment_method,
            store=request.auth.acting_store(data.store_code),
            invoice=data.invoice,
            note=data.note,
            api_key=request.auth.key,
        )
        assert record.entry is not None
        balance = record.bonus_value_entry or record.entry
        return 201, TopUpOut(
            id=record.pk,
            card_id=card.pk,
            card_number=card.number,
            store_code=record.store.code,
            currency=record.currency,
            amount=record.amount,
            payment_method=record.payment_method,
            invoice=record.invoice_number,
            bonus_value=record.bonus_value,
            bonus_points=record.bonus_points,
            stored_value_balance=balance.balance_after,
            created_at=record.created_at,
        )

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


@router.post(
    "/stored-value/tip-reversals",
    response={201: StoredValueEntryOut, **ERRORS},
    summary="Give back a tip charged to a card",
)
def reverse_tip(
    request: ApiRequest, data: TipReversalIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """Returns `amount` of what a confirmed sale took from the card, never more than is left of it
    (422 `tip_exceeds_charge`)."""

    def work() -> tuple[int, StoredValueEntryOut]:
        entry = stored_value.reverse_tip(
            transaction=_sale(request, data.transaction_id), amount=data.amount, reason=data.reason
        )
        return 201, _entry_out(entry)

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


@router.post(
    "/stored-value/refunds", response={201: StoredValueEntryOut, **ERRORS}, summary="Refund money to a card"
)
def refund_to_card(
    request: ApiRequest, data: CardRefundIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """Credits money refunded to the customer onto their card instead of paying it out."""

    def work() -> tuple[int, StoredValueEntryOut]:
        entry = stored_value.refund_to_card(
            card=_stored_value_card(request, data.card_code),
            amount=data.amount,
            store=request.auth.acting_store(data.store_code),
            transaction=_sale(request, data.transaction_id) if data.transaction_id is not None else None,
            reason=data.reason,
        )
        return 201, _entry_out(entry)

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)
