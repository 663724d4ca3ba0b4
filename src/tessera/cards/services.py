"""Every write to cards: batches, issuance (D3, D4), lifecycle (D5). One transaction each.

Issuance is checked by several people (D4): each step records who made it (`Card.step_by`), and the
next step must be made by someone else (`same_person`). The steps need a signed-in user; lifecycle
operations and anonymous activation may also come from the system or an API key (`actor=None`).
When the actor is a user, the service checks the step's permission and the user's merchant and stores.

Stored value lives in one ledger account per card family: opened when a stored-value card becomes
active, shared by its sub-cards, and taken over by its replacement, so balance and history follow the
card without moving a single entry. For stored-value types the amount paid at a controlled sale is
loaded onto the card when the sale is confirmed (never before: only the second person's check makes
value exist).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tessera.cards.models import (
    STOCK_STATUSES,
    Card,
    CardBatch,
    CardEvent,
    CardEventKind,
    CardKind,
    CardNumberSequence,
    CardStatus,
    CardType,
    PaymentMethod,
)
from tessera.cards.numbering import MAX_SEQUENCE, clean_number, compose_number, is_valid_prefix
from tessera.core import events
from tessera.core.errors import Conflict, PermissionDenied, ValidationFailed
from tessera.ledger.models import Account, AccountKind, EntryKind
from tessera.ledger.reasons import Reason
from tessera.members.models import Member
from tessera.tenancy.history import acting_key, key_label
from tessera.tenancy.models import Merchant, StaffMembership, Store
from tessera.tenancy.permissions import as_user, authorise

MAX_BATCH = 100_000
_BULK = 2000


# ---------------------------------------------------------------------------------------------- checks


def _check_store(staff: StaffMembership | None, store: Store | None) -> None:
    """B2: a store-scoped user acts only on cards of their stores (cards with no store are merchant-wide)."""
    if staff is None or staff.all_stores or store is None:
        return
    if store.pk not in staff.store_ids():
        raise PermissionDenied(_("This card belongs to another store."), code="wrong_store")


def _not_same_person(actor: Any, step_by_id: int | None) -> None:
    if step_by_id is not None and step_by_id == actor.pk:
        raise PermissionDenied(
            _("The previous step was yours: another person must make this one."), code="same_person"
        )


def _transition_error(card: Card, action: str | Any) -> Conflict:
    return Conflict(
        _("A card that is “%(status)s” cannot be %(action)s.")
        % {"status": card.get_status_display(), "action": action},
        code="invalid_transition",
        status=card.status,
    )


def ensure_usable(card: Card) -> None:
    """Refuse a card that cannot be used at the till: stock, sold-unconfirmed, lost, blocked, recycled."""
    if card.status != CardStatus.ACTIVE:
        raise Conflict(
            _("Card %(number)s cannot be used: it is “%(status)s”.")
            % {"number": card.number, "status": card.get_status_display()},
            code="card_not_usable",
            status=card.status,
        )


# ---------------------------------------------------------------------------------------------- helpers


def _locked(card: Card) -> Card:
    return (
        Card.objects.select_for_update(of=("self",)).select_related("type", "store", "member").get(pk=card.pk)
    )


def _by_key(data: dict[str, Any]) -> dict[str, Any]:
    """An event made through the API names its key besides its person (issue 17)."""
    key = acting_key()
    return data if key is None else {**data, "api_key": key_label(key)}


def _event(
    card: Card, kind: CardEventKind, actor: Any, store: Store | None, note: str = "", **data: Any
) -> CardEvent:
    event = CardEvent(
        merchant_id=card.merchant_id,
        card=card,
        kind=kind,
        actor=as_user(actor),
        store=store,
        at=timezone.now(),
        data=_by_key(data),
        note=note,
    )
    event.stamp(actor)
    event.save()
    return event


def _bulk_events(
    *,
    merchant_id: int,
    card_ids: Iterable[int],
    kind: CardEventKind,
    actor: Any,
    store: Store | None,
    **data: Any,
) -> None:
    user = as_user(actor)
    now = timezone.now()
    data = _by_key(data)
    CardEvent.objects.bulk_create(
        (
            CardEvent(
                merchant_id=merchant_id,
                card_id=card_id,
                kind=kind,
                actor=user,
                store=store,
                at=now,
                data=data,
                created_by=user,
                updated_by=user,
            )
            for card_id in card_ids
        ),
        batch_size=_BULK,
    )


def _update_in_chunks(ids: list[int], **values: Any) -> None:
    # Chunks keep `IN (...)` under SQLite's limit on query parameters.
    for start in range(0, len(ids), 900):
        Card.objects.filter(pk__in=ids[start : start + 900]).update(**values)


def _draw_numbers(*, merchant: Merchant | int, prefix: str, count: int) -> int:
    """Reserve `count` consecutive sequence values for `prefix`; returns the first. Locks the counter row."""
    merchant_id = merchant if isinstance(merchant, int) else merchant.pk
    sequence, _created = CardNumberSequence.objects.get_or_create(merchant_id=merchant_id, prefix=prefix)
    CardNumberSequence.objects.filter(pk=sequence.pk).update(last_value=F("last_value") + count)
    sequence.refresh_from_db(fields=["last_value"])
    if sequence.last_value > MAX_SEQUENCE:
        raise ValidationFailed(
            _("The numbers of prefix “%(prefix)s” are used up; choose another prefix.") % {"prefix": prefix},
            code="number_range_exhausted",
        )
    return sequence.last_value - count + 1


def _next_batch_number(merchant: Merchant) -> int:
    """The merchant's next batch number; the merchant's row is locked so two batches never share one."""
    list(Merchant.objects.select_for_update().filter(pk=merchant.pk).values_list("pk", flat=True))
    last = CardBatch.objects.filter(merchant=merchant).aggregate(last=Max("number"))["last"]
    return (last or 0) + 1


def _new_number(card: Card) -> str:
    prefix = card.batch.prefix if card.batch_id and card.batch else card.type.number_prefix
    return compose_number(prefix, _draw_numbers(merchant=card.merchant_id, prefix=prefix, count=1))


def _member_for_phone(*, merchant: Merchant, phone: str, actor: Any, store: Store | None) -> Member:
    """The merchant's member with this phone, registered now if new (C3: the phone is the identity)."""
    from tessera.members import selectors as member_selectors
    from tessera.members import services as member_services

    normalised = member_services.normalise_phone(phone, merchant=merchant)
    member = member_selectors.find_member_by_phone(merchant=merchant, phone=normalised)
    if member is None:
        member = member_services.register_member(
            merchant=merchant, phone=normalised, actor=actor, store=store
        )
    return member


def _open_card_account(card: Card) -> Account:
    from tessera.ledger import services as ledger

    return ledger.open_account(merchant=card.merchant, kind=AccountKind.STORED_VALUE, member=None)


def _needs_account(card: Card) -> bool:
    return card.type.kind == CardKind.STORED_VALUE and card.account_id is None


# ---------------------------------------------------------------------------------------------- batches


@transaction.atomic
def generate_batch(
    *,
    merchant: Merchant,
    card_type: CardType,
    quantity: int,
    actor: Any = None,
    prefix: str | None = None,
    note: str = "",
) -> CardBatch:
    """D3: `quantity` anonymous cards with fresh numbers, in stock ("generated"), ready to print."""
    authorise(actor, "cards.add_cardbatch", merchant=merchant.pk)
    if card_type.merchant_id != merchant.pk:
        raise ValidationFailed(_("The card type belongs to another merchant."), code="cross_merchant")
    if not 1 <= quantity <= MAX_BATCH:
        raise ValidationFailed(
            _("A batch has between 1 and %(max)s cards.") % {"max": MAX_BATCH}, code="invalid_quantity"
        )
    prefix = card_type.number_prefix if prefix is None else prefix
    if not is_valid_prefix(prefix):
        raise ValidationFailed(_("A prefix is up to 8 digits."), code="invalid_prefix")

    first = _draw_numbers(merchant=merchant, prefix=prefix, count=quantity)
    numbers = [compose_number(prefix, seq) for seq in range(first, first + quantity)]
    batch = CardBatch(
        merchant=merchant,
        number=_next_batch_number(merchant),
        type=card_type,
        quantity=quantity,
        prefix=prefix,
        first_number=numbers[0],
        last_number=numbers[-1],
        note=note,
    )
    batch.stamp(actor)
    batch.save()

    user = as_user(actor)
    cards = Card.objects.bulk_create(
        (
            Card(
                merchant=merchant,
                type=card_type,
                number=number,
                batch=batch,
                status=CardStatus.GENERATED,
                step_by=user,
                created_by=user,
                updated_by=user,
            )
            for number in numbers
        ),
        batch_size=_BULK,
    )
    _bulk_events(
        merchant_id=merchant.pk,
        card_ids=(c.pk for c in cards),
        kind=CardEventKind.GENERATED,
        actor=actor,
        store=None,
        batch=batch.pk,
    )
    return batch


def _step_on_batch(
    *,
    batch: CardBatch,
    from_status: CardStatus,
    actor: Any,
    numbers: Sequence[str] | None,
    action: str | Any,
) -> list[int]:
    """Lock the batch's cards waiting for this step and check the step's actor; returns their ids."""
    cards = Card.objects.select_for_update().filter(batch=batch, status=from_status, recycled_at__isnull=True)
    if numbers is not None:
        wanted = {clean_number(n) for n in numbers}
        cards = cards.filter(number__in=wanted)
    rows = list(cards.values_list("pk", "step_by_id", "number"))
    if numbers is not None and len(rows) != len(wanted):
        missing = sorted(wanted - {number for _pk, _by, number in rows})
        raise Conflict(
            _("These cards are not waiting to be %(action)s: %(numbers)s")
            % {"action": action, "numbers": ", ".join(missing[:20])},
            code="invalid_transition",
            numbers=missing,
        )
    if not rows:
        raise Conflict(
            _("No card of this batch is waiting to be %(action)s.") % {"action": action},
            code="invalid_transition",
        )
    if any(by == actor.pk for _pk, by, _number in rows):
        _not_same_person(actor, actor.pk)
    return [pk for pk, _by, _number in rows]


@transaction.atomic
def initialise_batch(*, batch: CardBatch, actor: Any, card_type: CardType | None = None) -> int:
    """D4 step 1 (finance): fix the type of the batch's generated cards. Returns how many."""
    authorise(actor, "cards.initialise_card", merchant=batch.merchant_id, user_required=True)
    card_type = card_type or batch.type
    if card_type.merchant_id != batch.merchant_id:
        raise ValidationFailed(_("The card type belongs to another merchant."), code="cross_merchant")
    ids = _step_on_batch(
        batch=batch, from_status=CardStatus.GENERATED, actor=actor, numbers=None, action=_("initialised")
    )
    now = timezone.now()
    _update_in_chunks(
        ids, status=CardStatus.INITIALISED, type=card_type, step_by=actor, updated_by=actor, updated_at=now
    )
    batch.type = card_type
    batch.initialised_at = now
    batch.stamp(actor)
    batch.save(update_fields=["type", "initialised_at", "updated_by", "updated_at"])
    _bulk_events(
        merchant_id=batch.merchant_id,
        card_ids=ids,
        kind=CardEventKind.INITIALISED,
        actor=actor,
        store=None,
        card_type=card_type.pk,
    )
    return len(ids)


@transaction.atomic
def assign_to_store(
    *, batch: CardBatch, store: Store, actor: Any, numbers: Sequence[str] | None = None
) -> int:
    """D4 step 2: hand the batch's initialised cards (or only `numbers`) to a store. Returns how many."""
    staff = authorise(actor, "cards.assign_card", merchant=batch.merchant_id, user_required=True)
    if store.merchant_id != batch.merchant_id:
        raise ValidationFailed(_("The store belongs to another merchant."), code="cross_merchant")
    _check_store(staff, store)
    ids = _step_on_batch(
        batch=batch, from_status=CardStatus.INITIALISED, actor=actor, numbers=numbers, action=_("assigned")
    )
    now = timezone.now()
    _update_in_chunks(
        ids, status=CardStatus.ASSIGNED, store=store, step_by=actor, updated_by=actor, updated_at=now
    )
    _bulk_events(
        merchant_id=batch.merchant_id, card_ids=ids, kind=CardEventKind.ASSIGNED, actor=actor, store=store
    )
    return len(ids)


# ---------------------------------------------------------------------------------------------- issuance


@transaction.atomic
def sell_card(
    *,
    card: Card,
    actor: Any,
    store: Store,
    phone: str,
    payment_method: str,
    invoice_number: str,
    amount: int,
    note: str = "",
) -> Card:
    """D4 step 3 (cashier): the customer buys the store's card; it waits for a second person's check."""
    staff = authorise(actor, "cards.sell_card", merchant=card.merchant_id, user_required=True)
    card = _locked(card)
    if card.status != CardStatus.ASSIGNED:
        raise _transition_error(card, _("sold"))
    if store.pk != card.store_id:
        raise PermissionDenied(_("This card was assigned to another store."), code="wrong_store")
    _check_store(staff, card.store)
    _not_same_person(actor, card.step_by_id)
    if payment_method not in PaymentMethod.values:
        raise ValidationFailed(_("Choose a payment method."), code="invalid_payment_method")
    if not invoice_number.strip():
        raise ValidationFailed(_("Enter the invoice number."), code="invoice_required")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValidationFailed(_("The amount is a whole number, zero or more."), code="invalid_amount")

    card.member = _member_for_phone(merchant=card.merchant, phone=phone, actor=actor, store=store)
    card.status = CardStatus.SOLD
    card.payment_method = payment_method
    card.invoice_number = invoice_number.strip()
    card.amount = amount
    card.sold_at = timezone.now()
    card.step_by = actor
    card.stamp(actor)
    card.save()
    _event(
        card,
        CardEventKind.SOLD,
        actor,
        store,
        note,
        member=card.member_id,
        payment_method=payment_method,
        invoice_number=card.invoice_number,
        amount=amount,
    )
    return card


@transaction.atomic
def confirm_sale(*, card: Card, actor: Any, note: str = "") -> Card:
    """D4 step 4 (a second person): the sale is checked; the card is active, and its value loaded."""
    staff = authorise(actor, "cards.confirm_card", merchant=card.merchant_id, user_required=True)
    card = _locked(card)
    if card.status != CardStatus.SOLD:
        raise _transition_error(card, _("confirmed"))
    _check_store(staff, card.store)
    _not_same_person(actor, card.step_by_id)

    top_up = 0
    if card.type.kind == CardKind.STORED_VALUE:
        if card.account_id is None:
            card.account = _open_card_account(card)
        top_up = card.amount or 0
    card.status = CardStatus.ACTIVE
    card.activated_at = timezone.now()
    card.step_by = actor
    card.stamp(actor)
    card.save()
    if top_up and card.account is not None:
        from tessera.ledger import services as ledger

        ledger.credit(
            account=card.account,
            amount=top_up,
            kind=EntryKind.TOP_UP,
            store=card.store,
            actor=actor,
            source=f"card:{card.pk}",
            reason=Reason("card_sale", {"invoice": card.invoice_number}),
        )
    _event(card, CardEventKind.CONFIRMED, actor, card.store, note, top_up=top_up)
    return card


@transaction.atomic
def activate_card(*, card: Card, phone: str, actor: Any = None, store: Store | None = None) -> Card:
    """D3: bind an anonymous card to the member with this phone (registered if new); it is active.

    Activating again with the same phone changes nothing, so a POS may safely retry.
    """
    staff = authorise(actor, "cards.activate_card", merchant=card.merchant_id)
    card = _locked(card)
    _check_store(staff, card.store)
    if store is not None and card.store_id is not None and store.pk != card.store_id:
        raise PermissionDenied(_("This card was assigned to another store."), code="wrong_store")
    if card.status == CardStatus.ACTIVE and card.member is not None:
        from tessera.members import services as member_services

        if str(card.member.phone) == member_services.normalise_phone(phone, merchant=card.merchant):
            return card
    if card.status not in STOCK_STATUSES or card.member_id is not None:
        raise _transition_error(card, _("activated"))
    if card.type.requires_sale:
        raise Conflict(
            _("Cards of type “%(type)s” are sold and confirmed, not activated.") % {"type": card.type},
            code="sale_required",
        )
    card.member = _member_for_phone(merchant=card.merchant, phone=phone, actor=actor, store=store)
    if _needs_account(card):
        card.account = _open_card_account(card)
    card.store = card.store or store
    card.status = CardStatus.ACTIVE
    card.activated_at = timezone.now()
    card.step_by = as_user(actor)
    card.stamp(actor)
    card.save()
    _event(card, CardEventKind.ACTIVATED, actor, store or card.store, member=card.member_id)
    events.publish(
        merchant_id=card.merchant_id,
        type="card.activated",
        payload={"card_id": card.pk, "member_id": card.member_id},
    )
    return card


# ---------------------------------------------------------------------------------------------- lifecycle


@transaction.atomic
def report_lost(*, card: Card, actor: Any = None, store: Store | None = None, note: str = "") -> Card:
    """D5: the card is lost; nothing can be earned or spent with it until the report is cancelled."""
    staff = authorise(actor, "cards.manage_card_lifecycle", merchant=card.merchant_id)
    card = _locked(card)
    _check_store(staff, card.store)
    if card.status != CardStatus.ACTIVE:
        raise _transition_error(card, _("reported lost"))
    card.status = CardStatus.LOST
    card.lost_at = timezone.now()
    card.stamp(actor)
    card.save()
    _event(card, CardEventKind.LOST, actor, store, note)
    return card


@transaction.atomic
def cancel_loss_report(*, card: Card, actor: Any = None, store: Store | None = None, note: str = "") -> Card:
    """D5: the card was found; it works again."""
    staff = authorise(actor, "cards.manage_card_lifecycle", merchant=card.merchant_id)
    card = _locked(card)
    _check_store(staff, card.store)
    if card.status != CardStatus.LOST:
        raise _transition_error(card, _("found again"))
    card.status = CardStatus.ACTIVE
    card.lost_at = None
    card.stamp(actor)
    card.save()
    _event(card, CardEventKind.LOSS_CANCELLED, actor, store, note)
    return card


@transaction.atomic
def replace_card(
    *,
    card: Card,
    actor: Any = None,
    store: Store | None = None,
    new_number: str | None = None,
    note: str = "",
) -> Card:
    """D5: a new card takes over the old one's member, account (balance and history) and sub-cards.

    The new card is the stock card `new_number` when given (a pre-printed card handed over at the
    counter), else a freshly numbered one. The old card is blocked and points to its replacement.
    """
    staff = authorise(actor, "cards.manage_card_lifecycle", merchant=card.merchant_id)
    card = _locked(card)
    _check_store(staff, card.store)
    if card.status not in (CardStatus.ACTIVE, CardStatus.LOST):
        raise _transition_error(card, _("replaced"))
    now = timezone.now()
    if new_number is not None:
        found = (
            Card.objects.select_for_update()
            .filter(
                merchant_id=card.merchant_id,
                number=clean_number(new_number),
                recycled_at__isnull=True,
                status__in=STOCK_STATUSES,
                member__isnull=True,
            )
            .first()
        )
        if found is None:
            raise ValidationFailed(
                _("Card %(number)s is not an unused card in stock.") % {"number": new_number},
                code="replacement_not_in_stock",
            )
        _check_store(staff, found.store)
        if found.type_id != card.type_id:
            raise ValidationFailed(
                _("The replacement must be a card of the same type."), code="type_mismatch"
            )
        new = found
    else:
        new = Card(merchant_id=card.merchant_id, type=card.type, batch=card.batch, number=_new_number(card))
    new.member = card.member
    new.account = card.account
    new.parent = card.parent
    new.store = new.store or store or card.store
    new.status = CardStatus.ACTIVE
    new.activated_at = now
    new.step_by = as_user(actor)
    new.stamp(actor)
    new.save()

    card.status = CardStatus.BLOCKED
    card.blocked_at = now
    card.replaced_by = new
    card.stamp(actor)
    card.save()
    for sub in Card.objects.filter(parent=card, recycled_at__isnull=True):
        sub.parent = new
        sub.stamp(actor)
        sub.save()
    _event(card, CardEventKind.REPLACED, actor, store, note, new_number=new.number)
    _event(new, CardEventKind.ISSUED_AS_REPLACEMENT, actor, store, note, old_number=card.number)
    return new


@transaction.atomic
def recycle_card(*, card: Card, actor: Any = None, store: Store | None = None, note: str = "") -> Card:
    """D5: a returned card's number is issued again; returns the fresh card row for the number.

    The old row is archived (`recycled`) with its member, events and ledger account, so the old owner's
    history never shows up on the next owner's card. Stored value still on the card, or live sub-cards,
    stop the recycling.
    """
    staff = authorise(actor, "cards.manage_card_lifecycle", merchant=card.merchant_id)
    card = _locked(card)
    _check_store(staff, card.store)
    if card.status not in (CardStatus.ACTIVE, CardStatus.LOST, CardStatus.BLOCKED):
        raise _transition_error(card, _("recycled"))
    live = Card.objects.filter(recycled_at__isnull=True).exclude(status=CardStatus.BLOCKED)
    if live.filter(parent=card).exists():
        raise Conflict(_("Recycle or replace the sub-cards of this card first."), code="has_sub_cards")
    if (
        card.account_id is not None
        and not live.filter(account_id=card.account_id).exclude(pk=card.pk).exists()
    ):
        balance = Account.objects.filter(pk=card.account_id).values_list("balance", flat=True).first() or 0
        if balance > 0:
            raise Conflict(
                _("The card still holds stored value; spend or move it first."),
                code="balance_not_zero",
                balance=balance,
            )
    now = timezone.now()
    card.status = CardStatus.RECYCLED
    card.recycled_at = now
    card.stamp(actor)
    card.save()
    fresh = Card(
        merchant_id=card.merchant_id,
        type=card.type,
        number=card.number,
        batch=card.batch,
        store=card.store,
        status=CardStatus.ASSIGNED if card.store_id else CardStatus.INITIALISED,
        step_by=as_user(actor),
    )
    fresh.stamp(actor)
    fresh.save()
    _event(card, CardEventKind.RECYCLED, actor, store, note, fresh_card=fresh.pk)
    _event(fresh, CardEventKind.GENERATED, actor, store, note, recycled_from=card.pk)
    return fresh


@transaction.atomic
def issue_sub_card(*, main_card: Card, actor: Any = None, store: Store | None = None) -> Card:
    """D5: a supplementary card with its own number, sharing the main card's member and account."""
    staff = authorise(actor, "cards.manage_card_lifecycle", merchant=main_card.merchant_id)
    main = _locked(main_card)
    _check_store(staff, main.store)
    if main.parent_id is not None:
        raise ValidationFailed(_("A sub-card cannot have sub-cards of its own."), code="not_a_main_card")
    ensure_usable(main)
    if _needs_account(main):
        main.account = _open_card_account(main)
        main.stamp(actor)
        main.save()
    sub = Card(
        merchant_id=main.merchant_id,
        type=main.type,
        batch=main.batch,
        number=_new_number(main),
        member=main.member,
        account=main.account,
        parent=main,
        store=store or main.store,
        status=CardStatus.ACTIVE,
        activated_at=timezone.now(),
        step_by=as_user(actor),
    )
    sub.stamp(actor)
    sub.save()
    _event(main, CardEventKind.SUB_CARD_ISSUED, actor, store, sub_number=sub.number)
    _event(sub, CardEventKind.SUB_CARD_ISSUED, actor, store, main_number=main.number)
    return sub
