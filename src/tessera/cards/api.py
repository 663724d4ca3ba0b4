"""Card endpoints of the public API (D2, D3): look a card up, activate an anonymous one; and the
management API's card configuration (issue 17): card types, card batches with their PDF sheet and CSV,
and the card lifecycle (lost, found, replace, recycle, sub-card).

`{number}` is the card number as printed or typed (spaces and dashes ignored) or the QR payload
`TSR1:<number>`. Only the API key's merchant's cards, types and batches are ever found: another
merchant's id is 404. Configuration takes an `admin` key (reads also `admin:read`); it goes through the
back office's form (`CardTypeForm`, `GenerateBatchForm`) and services, so messages and rules are the same,
and every history row it writes names the key (`tessera.tenancy.history`).

The issuance steps of controlled cards (initialise, assign to a store, sell, confirm: D4) must each be
made by a person, and the next one by someone else: an `admin` key makes them for the staff member who
created it (`tenancy.history.key_person`), with that person's permissions and stores, through the
back office's forms (`InitialiseBatchForm`, `AssignForm`, `SellForm`, `NoteForm`) and services. A key of
A's and A in the back office are the same person.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import Count
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router
from ninja.pagination import LimitOffsetPagination, paginate

from tessera.cards import rendering, selectors, services
from tessera.cards.forms import (
    AssignForm,
    CardTypeForm,
    GenerateBatchForm,
    InitialiseBatchForm,
    NoteForm,
    SellForm,
)
from tessera.cards.models import Card, CardBatch, CardKind, CardStatus, CardType, PaymentMethod
from tessera.core.api_forms import body_example, bound_form, one_of, valid_or_refuse
from tessera.core.errors import NotFound, PermissionDenied
from tessera.core.etag import tagged, tagged_json
from tessera.core.idempotency import idempotent, key_header
from tessera.core.limits import Id
from tessera.core.money import MAX_AMOUNT
from tessera.core.problem import CHANGE_ERRORS, ERRORS
from tessera.core.schemas import Schema
from tessera.tenancy.auth import ApiKeyAuth, ApiRequest
from tessera.tenancy.history import acting_for, change_if_match, changes_by, key_person
from tessera.tenancy.models import Scope
from tessera.tenancy.permissions import staff_of

router = Router(tags=["cards"], auth=ApiKeyAuth(Scope.POS, Scope.INTEGRATION, Scope.ADMIN))
types_router = Router(tags=["card types"], auth=ApiKeyAuth(Scope.ADMIN))
batches_router = Router(tags=["card batches"], auth=ApiKeyAuth(Scope.ADMIN))
ADMIN_ONLY = ApiKeyAuth(Scope.ADMIN)


class CardTypeOut(Schema):
    id: int
    name: str
    kind: CardKind
    discount_percent: Decimal | None = Field(description="For discount cards, e.g. 10.00 for 10 %.")
    benefits: str
    level: int


class CardBalancesOut(Schema):
    points: int | None = Field(description="The member's points; null when the card has no member.")
    stored_value: int | None = Field(
        description="Stored value of the card family, in the currency's minor unit; null if none."
    )


class CardOut(Schema):
    number: str
    status: CardStatus
    usable: bool = Field(
        description="True only for an active card: lost, blocked and stock cards are refused."
    )
    type: CardTypeOut
    member_id: int | None
    main_card_number: str | None = Field(description="Set on a sub-card: the card whose account it shares.")
    store_id: int | None
    balances: CardBalancesOut

    @staticmethod
    def from_card(card: Card) -> CardOut:
        balances = selectors.card_balances(card)
        return CardOut(
            number=card.number,
            status=CardStatus(card.status),
            usable=card.is_usable,
            type=CardTypeOut(
                id=card.type.pk,
                name=card.type.name,
                kind=CardKind(card.type.kind),
                discount_percent=card.type.discount_percent,
                benefits=card.type.benefits,
                level=card.type.level,
            ),
            member_id=card.member_id,
            main_card_number=card.parent.number if card.parent else None,
            store_id=card.store_id,
            balances=CardBalancesOut(points=balances.points, stored_value=balances.stored_value),
        )


class ActivateIn(Schema):
    phone: str = Field(
        max_length=30, description="The customer's phone; local numbers read in the merchant's country."
    )


def _card(request: ApiRequest, number: str) -> Card:
    card = selectors.find_card(merchant=request.auth.merchant, code=number)
    if card is None:
        raise NotFound(_("No card with this number."), code="card_not_found")
    return card


@router.get("/{number}", response={200: CardOut, **ERRORS}, summary="Look up a card")
def get_card(request: ApiRequest, number: str) -> CardOut:
    return CardOut.from_card(_card(request, number))


@router.post(
    "/{number}/activate",
    response={200: CardOut, **ERRORS},
    summary="Activate an anonymous card for a phone",
    description="Binds a pre-issued card to the member with this phone, registering the member if new (D3). "
    "Activating again with the same phone answers the same card. Cards sold under controlled issuance "
    "answer 409 `sale_required`.",
)
def activate(
    request: ApiRequest,
    number: str,
    payload: ActivateIn,
    idempotency_key: str = key_header(),
) -> HttpResponse:
    merchant = request.auth.merchant

    def work() -> tuple[int, CardOut]:
        card = services.activate_card(
            card=_card(request, number),
            phone=payload.phone,
            actor=None,
            store=request.auth.store,
        )
        return 200, CardOut.from_card(card)

    return idempotent(request, merchant=merchant, key=idempotency_key, work=work)


# ------------------------------------------------------------------------------------ card lifecycle (D5)


class NoteIn(Schema):
    note: str = Field("", description="Kept with the card's event (the audit trail of card operations).")


class ReplaceIn(NoteIn):
    new_number: str | None = Field(
        None, description="An unused stock card of the same type handed over; null: a newly numbered card."
    )


_NOTE_EXAMPLE = body_example({"note": "Customer called the hotline"})


def _lifecycle(
    request: ApiRequest, number: str, idempotency_key: str, step: Callable[[Card], Card]
) -> HttpResponse:
    def work() -> tuple[int, CardOut]:
        with changes_by(request.auth.key):
            return 200, CardOut.from_card(step(_card(request, number)))

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


@router.post(
    "/{number}/lost",
    auth=ADMIN_ONLY,
    response={200: CardOut, **ERRORS},
    operation_id="reportCardLost",
    summary="Report a card lost",
    description="An active card is blocked for earning and spending until it is found (D5). Other statuses "
    "answer 409 `invalid_transition`.",
    openapi_extra=_NOTE_EXAMPLE,
)
def report_lost(
    request: ApiRequest, number: str, payload: NoteIn, idempotency_key: str = key_header()
) -> HttpResponse:
    return _lifecycle(
        request, number, idempotency_key, lambda card: services.report_lost(card=card, note=payload.note)
    )


@router.post(
    "/{number}/found",
    auth=ADMIN_ONLY,
    response={200: CardOut, **ERRORS},
    operation_id="reportCardFound",
    summary="Cancel a card's loss report",
    openapi_extra=_NOTE_EXAMPLE,
)
def report_found(
    request: ApiRequest, number: str, payload: NoteIn, idempotency_key: str = key_header()
) -> HttpResponse:
    return _lifecycle(
        request,
        number,
        idempotency_key,
        lambda card: services.cancel_loss_report(card=card, note=payload.note),
    )


@router.post(
    "/{number}/replace",
    auth=ADMIN_ONLY,
    response={200: CardOut, **ERRORS},
    operation_id="replaceCard",
    summary="Replace a card",
    description="The answer is the NEW card: it takes over the member, the balance and the sub-cards; "
    "the old card is blocked.",
    openapi_extra=body_example({"new_number": None, "note": "Card damaged"}),
)
def replace(
    request: ApiRequest, number: str, payload: ReplaceIn, idempotency_key: str = key_header()
) -> HttpResponse:
    return _lifecycle(
        request,
        number,
        idempotency_key,
        lambda card: services.replace_card(card=card, new_number=payload.new_number, note=payload.note),
    )


@router.post(
    "/{number}/recycle",
    auth=ADMIN_ONLY,
    response={200: CardOut, **ERRORS},
    operation_id="recycleCard",
    summary="Recycle a returned card",
    description="The answer is the fresh stock card with the same number; the old row keeps the old owner's "
    "history. A card with stored value or live sub-cards answers 409.",
    openapi_extra=_NOTE_EXAMPLE,
)
def recycle(
    request: ApiRequest, number: str, payload: NoteIn, idempotency_key: str = key_header()
) -> HttpResponse:
    return _lifecycle(
        request, number, idempotency_key, lambda card: services.recycle_card(card=card, note=payload.note)
    )


@router.post(
    "/{number}/sub-cards",
    auth=ADMIN_ONLY,
    response={200: CardOut, **ERRORS},
    operation_id="issueSubCard",
    summary="Issue a sub-card",
    description="A new card sharing the main card's member and balance; the answer is the sub-card. No body.",
)
def sub_card(request: ApiRequest, number: str, idempotency_key: str = key_header()) -> HttpResponse:
    return _lifecycle(request, number, idempotency_key, lambda card: services.issue_sub_card(main_card=card))


# ---------------------------------------------------------------- controlled issuance, card by card (D4)

_PERSON = (
    " Made for the staff member who created the key, with their permissions and stores (403 "
    "`key_without_person`, `key_person_inactive`, `permission_denied`, `wrong_store`); the previous step "
    "must be someone else's (403 `same_person`)."
)


class SellIn(Schema):
    phone: str = Field(description="The customer's phone; the member is registered if new.")
    payment_method: PaymentMethod
    invoice_number: str
    amount: int = Field(ge=0, le=MAX_AMOUNT, description="Paid, in the currency's minor unit.")
    note: str = ""


def _person_step(
    request: ApiRequest, idempotency_key: str, step: Callable[[Any], tuple[int, Schema]]
) -> HttpResponse:
    """A step only a person makes: run by the key's person, its history naming both."""

    def work() -> tuple[int, Schema]:
        with acting_for(request.auth.key, key_person(request.auth.key)) as person:
            return step(person)

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


@router.post(
    "/{number}/sell",
    auth=ADMIN_ONLY,
    response={200: CardOut, **ERRORS},
    operation_id="sellCard",
    summary="Sell a controlled card (D4 step 3)",
    description="The card, assigned to a store, is sold to the customer with this phone; it waits for "
    "another person's confirmation. Checked by the back office's Sell form (422 `invalid_fields`); a card "
    "with no store yet answers 403 `wrong_store`, one not waiting to be sold 409 `invalid_transition`."
    + _PERSON,
    openapi_extra=body_example(
        {"phone": "0903123456", "payment_method": "cash", "invoice_number": "HD-0042", "amount": 200000}
    ),
)
def sell(
    request: ApiRequest, number: str, payload: SellIn, idempotency_key: str = key_header()
) -> HttpResponse:
    def step(person: Any) -> tuple[int, CardOut]:
        card = _card(request, number)
        form = SellForm(data=payload.model_dump(), currency=request.auth.merchant.currency)
        # The back office reads typed money ("200.000"); the API's amounts are minor units, as everywhere.
        form.fields["amount"] = forms.IntegerField(min_value=0, max_value=MAX_AMOUNT)
        data = valid_or_refuse(form)
        if card.store is None:
            raise PermissionDenied(_("This card is not assigned to a store."), code="wrong_store")
        services.sell_card(card=card, actor=person, store=card.store, **data)
        return 200, CardOut.from_card(_card(request, number))

    return _person_step(request, idempotency_key, step)


@router.post(
    "/{number}/confirm",
    auth=ADMIN_ONLY,
    response={200: CardOut, **ERRORS},
    operation_id="confirmCardSale",
    summary="Confirm a card's sale (D4 step 4)",
    description="A second person checks the sale: the card is active and, for a stored-value type, the "
    "amount paid is loaded. A card not sold answers 409 `invalid_transition`." + _PERSON,
    openapi_extra=_NOTE_EXAMPLE,
)
def confirm(
    request: ApiRequest, number: str, payload: NoteIn, idempotency_key: str = key_header()
) -> HttpResponse:
    def step(person: Any) -> tuple[int, CardOut]:
        data = valid_or_refuse(NoteForm(data=payload.model_dump()))
        card = services.confirm_sale(card=_card(request, number), actor=person, **data)
        return 200, CardOut.from_card(card)

    return _person_step(request, idempotency_key, step)


# ------------------------------------------------------------------------------------------ card types (D1)


class CardTypeDetailOut(CardTypeOut):
    number_prefix: str
    requires_sale: bool
    is_active: bool

    @staticmethod
    def of(card_type: CardType) -> CardTypeDetailOut:
        return CardTypeDetailOut(
            id=card_type.pk,
            name=card_type.name,
            kind=CardKind(card_type.kind),
            discount_percent=card_type.discount_percent,
            benefits=card_type.benefits,
            level=card_type.level,
            number_prefix=card_type.number_prefix,
            requires_sale=card_type.requires_sale,
            is_active=card_type.is_active,
        )


class CardTypeIn(Schema):
    """As the back office's card type page: the same fields, checked by the same form."""

    name: str
    kind: CardKind = CardKind.POINTS
    discount_percent: Decimal | None = Field(None, description="Required for discount cards (0–100).")
    benefits: str = ""
    level: int = Field(0, description="Higher levels are shown first and rank above lower ones.")
    number_prefix: str = Field("", description="Up to 8 digits printed before the sequence number.")
    requires_sale: bool = Field(False, description="Sold by a cashier and confirmed by a second person (D4).")
    is_active: bool = Field(True, description="False archives the type: no new batches of it.")


class CardTypePatch(Schema):
    """Only the fields sent change. `is_active: false` archives the type."""

    name: str | None = None
    kind: CardKind | None = None
    discount_percent: Decimal | None = None
    benefits: str | None = None
    level: int | None = None
    number_prefix: str | None = None
    requires_sale: bool | None = None
    is_active: bool | None = None


_CARD_TYPE_EXAMPLE = {
    "name": "Gold discount card",
    "kind": "discount",
    "discount_percent": "10.00",
    "benefits": "10 % off every bill",
    "level": 2,
    "number_prefix": "8868",
    "requires_sale": False,
    "is_active": True,
}


def _card_type(request: ApiRequest, card_type_id: int, *, lock: bool = False) -> CardType:
    missing = NotFound(_("No such card type."), code="card_type_not_found")
    return one_of(CardType.objects.of(request.auth.merchant), card_type_id, missing=missing, lock=lock)


def _save_card_type(form: CardTypeForm) -> CardType:
    valid_or_refuse(form)
    card_type: CardType = form.save(commit=False)
    card_type.stamp(None)
    card_type.save()
    return card_type


@types_router.get(
    "",
    response={200: list[CardTypeDetailOut], **ERRORS},
    operation_id="listCardTypes",
    summary="List card types",
    description="Highest level first. Paginated: `limit` (default 100) and `offset`; the answer has `items` "
    "and `count`, the number of all card types.",
)
@paginate(LimitOffsetPagination)
def list_card_types(request: ApiRequest) -> list[CardTypeDetailOut]:
    return [CardTypeDetailOut.of(t) for t in CardType.objects.of(request.auth.merchant)]


@types_router.post(
    "",
    response={201: CardTypeDetailOut, **ERRORS},
    operation_id="createCardType",
    summary="Create a card type",
    description="Checked as the back office checks it; a refusal is 422 `invalid_fields` with a message "
    "per field.",
    openapi_extra=body_example(_CARD_TYPE_EXAMPLE),
)
def create_card_type(
    request: ApiRequest, payload: CardTypeIn, idempotency_key: str = key_header()
) -> HttpResponse:
    def work() -> tuple[int, CardTypeDetailOut]:
        form = CardTypeForm(data=payload.model_dump(), instance=CardType(merchant=request.auth.merchant))
        with changes_by(request.auth.key):
            return 201, CardTypeDetailOut.of(_save_card_type(form))

    return tagged_json(idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work))


@types_router.get(
    "/{card_type_id}",
    response={200: CardTypeDetailOut, **ERRORS},
    operation_id="getCardType",
    summary="Read a card type",
    description="The answer's `ETag` is what an update sends as `If-Match`.",
)
def get_card_type(request: ApiRequest, card_type_id: Id, response: HttpResponse) -> CardTypeDetailOut:
    shown = CardTypeDetailOut.of(_card_type(request, card_type_id))
    tagged(response, shown)
    return shown


@types_router.patch(
    "/{card_type_id}",
    response={200: CardTypeDetailOut, **CHANGE_ERRORS},
    operation_id="updateCardType",
    summary="Change a card type",
    description="Send `If-Match` with the ETag you read: 412 `precondition_failed` when it was changed since "
    "(by the API or the back office), 428 without it. `is_active: false` archives the type.",
    openapi_extra=body_example({"benefits": "12 % off every bill", "discount_percent": "12.00"}),
)
def update_card_type(
    request: ApiRequest, card_type_id: Id, payload: CardTypePatch, response: HttpResponse
) -> CardTypeDetailOut:
    return change_if_match(
        request,
        response,
        locked=lambda: _card_type(request, card_type_id, lock=True),
        shown=CardTypeDetailOut.of,
        save=lambda card_type: CardTypeDetailOut.of(
            _save_card_type(
                bound_form(CardTypeForm, instance=card_type, changes=payload.model_dump(exclude_unset=True))
            )
        ),
    )


# --------------------------------------------------------------------------------------- card batches (D3)


class CardBatchOut(Schema):
    id: int
    number: int = Field(description="The merchant's batch number: 1, 2, 3 …")
    card_type_id: int
    quantity: int
    prefix: str
    first_number: str
    last_number: str
    note: str
    initialised_at: datetime | None
    created_at: datetime
    sheet_parts: int = Field(description=f"PDF sheets come in parts of {rendering.SHEET_PART_SIZE} cards.")

    @staticmethod
    def of(batch: CardBatch) -> CardBatchOut:
        return CardBatchOut(
            id=batch.pk,
            number=batch.number,
            card_type_id=batch.type_id,
            quantity=batch.quantity,
            prefix=batch.prefix,
            first_number=batch.first_number,
            last_number=batch.last_number,
            note=batch.note,
            initialised_at=batch.initialised_at,
            created_at=batch.created_at,
            sheet_parts=max(1, -(-batch.quantity // rendering.SHEET_PART_SIZE)),
        )


class CardBatchDetailOut(CardBatchOut):
    cards_by_status: dict[CardStatus, int] = Field(description="The batch's current cards by status.")


class GenerateBatchIn(Schema):
    card_type_id: int
    quantity: int = Field(description=f"1 to {services.MAX_BATCH}.")
    number_prefix: str = Field("", description="Empty: the card type's prefix.")
    note: str = ""


def _batch(request: ApiRequest, batch_id: int) -> CardBatch:
    missing = NotFound(_("No such card batch."), code="card_batch_not_found")
    return one_of(CardBatch.objects.of(request.auth.merchant), batch_id, missing=missing)


def _batch_detail(batch: CardBatch) -> CardBatchDetailOut:
    counts = (
        Card.objects.filter(batch=batch, recycled_at__isnull=True)
        .values_list("status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return CardBatchDetailOut(
        **CardBatchOut.of(batch).model_dump(), cards_by_status={CardStatus(s): n for s, n in counts}
    )


@batches_router.get(
    "",
    response={200: list[CardBatchOut], **ERRORS},
    operation_id="listCardBatches",
    summary="List card batches",
    description="Newest first. Paginated: `limit` (default 100) and `offset`; the answer has `items` and "
    "`count`.",
)
@paginate(LimitOffsetPagination)
def list_card_batches(request: ApiRequest) -> list[CardBatchOut]:
    return [CardBatchOut.of(b) for b in CardBatch.objects.of(request.auth.merchant)]


@batches_router.post(
    "",
    response={201: CardBatchDetailOut, **ERRORS},
    operation_id="generateCardBatch",
    summary="Generate a card batch",
    description="Draws `quantity` fresh card numbers into stock, ready to print (D3). Checked as the back "
    "office's Generate cards page checks it (422 `invalid_fields`).",
    openapi_extra=body_example({"card_type_id": 1, "quantity": 500, "number_prefix": "", "note": "Tết 2027"}),
)
def generate_batch(
    request: ApiRequest, payload: GenerateBatchIn, idempotency_key: str = key_header()
) -> HttpResponse:
    merchant = request.auth.merchant

    def work() -> tuple[int, CardBatchDetailOut]:
        form = GenerateBatchForm(
            data={**payload.model_dump(exclude={"card_type_id"}), "card_type": payload.card_type_id},
            merchant_id=merchant.pk,
        )
        data = valid_or_refuse(form)
        with changes_by(request.auth.key):
            batch = services.generate_batch(
                merchant=merchant,
                card_type=data["card_type"],
                quantity=data["quantity"],
                prefix=data["number_prefix"] or None,
                note=data["note"],
            )
        return 201, _batch_detail(batch)

    return idempotent(request, merchant=merchant, key=idempotency_key, work=work)


class InitialiseIn(Schema):
    card_type_id: int | None = Field(None, description="Null: the batch's own type.")


class AssignIn(Schema):
    store_id: int
    numbers: list[str] = Field(
        default_factory=list, description="Only these cards of the batch; empty: every initialised card."
    )


class StepOut(Schema):
    batch: CardBatchDetailOut
    cards: int = Field(description="How many cards the step moved.")


@batches_router.post(
    "/{batch_id}/initialise",
    response={200: StepOut, **ERRORS},
    operation_id="initialiseCardBatch",
    summary="Initialise a batch (D4 step 1)",
    description="Fixes the type of every generated card of the batch. Checked by the back office's "
    "Initialise form (422 `invalid_fields`); no card waiting answers 409 `invalid_transition`." + _PERSON,
    openapi_extra=body_example({"card_type_id": None}),
)
def initialise_batch(
    request: ApiRequest, batch_id: Id, payload: InitialiseIn, idempotency_key: str = key_header()
) -> HttpResponse:
    def step(person: Any) -> tuple[int, StepOut]:
        batch = _batch(request, batch_id)
        form = InitialiseBatchForm(
            data={"card_type": payload.card_type_id or batch.type_id}, merchant_id=batch.merchant_id
        )
        count = services.initialise_batch(
            batch=batch, card_type=valid_or_refuse(form)["card_type"], actor=person
        )
        return 200, StepOut(batch=_batch_detail(_batch(request, batch_id)), cards=count)

    return _person_step(request, idempotency_key, step)


@batches_router.post(
    "/{batch_id}/assign",
    response={200: StepOut, **ERRORS},
    operation_id="assignCardBatch",
    summary="Assign a batch's cards to a store (D4 step 2)",
    description="Hands the batch's initialised cards (or only `numbers`) to a store. Checked by the back "
    "office's Assign form: the store must be one the person works in (422 `invalid_fields`); a number not "
    "waiting answers 409 `invalid_transition`." + _PERSON,
    openapi_extra=body_example({"store_id": 1, "numbers": []}),
)
def assign_batch(
    request: ApiRequest, batch_id: Id, payload: AssignIn, idempotency_key: str = key_header()
) -> HttpResponse:
    def step(person: Any) -> tuple[int, StepOut]:
        batch = _batch(request, batch_id)
        form = AssignForm(
            data={"store": payload.store_id, "numbers": "\n".join(payload.numbers)},
            merchant_id=batch.merchant_id,
            staff=staff_of(person),
        )
        data = valid_or_refuse(form)
        count = services.assign_to_store(
            batch=batch, store=data["store"], actor=person, numbers=form.number_list()
        )
        return 200, StepOut(batch=_batch_detail(batch), cards=count)

    return _person_step(request, idempotency_key, step)


@batches_router.get(
    "/{batch_id}",
    response={200: CardBatchDetailOut, **ERRORS},
    operation_id="getCardBatch",
    summary="Read a card batch",
)
def get_card_batch(request: ApiRequest, batch_id: Id) -> CardBatchDetailOut:
    return _batch_detail(_batch(request, batch_id))


def _file(description: str, media_type: str) -> dict[str, Any]:
    schema = {"type": "string", "format": "binary"} if media_type == "application/pdf" else {"type": "string"}
    return {"responses": {200: {"description": description, "content": {media_type: {"schema": schema}}}}}


@batches_router.get(
    "/{batch_id}/cards.pdf",
    response=ERRORS,
    operation_id="downloadCardBatchPdf",
    summary="The batch's printable card sheet (PDF)",
    description=f"One part of {rendering.SHEET_PART_SIZE} cards per request: `part` 1 to the batch's "
    "`sheet_parts` (404 `part_not_found` beyond).",
    openapi_extra=_file("The PDF sheet, barcodes and QR codes included.", "application/pdf"),
)
def card_batch_pdf(
    request: ApiRequest, batch_id: Id, part: int = Query(1, ge=1, le=services.MAX_BATCH)
) -> HttpResponse:
    batch = _batch(request, batch_id)
    size = rendering.SHEET_PART_SIZE
    batches = CardBatch.objects.filter(pk=batch.pk)
    cards = list(selectors.batch_cards(batches)[(part - 1) * size : part * size])
    if not cards:
        raise NotFound(_("The batch has no cards in this part."), code="part_not_found")
    response = HttpResponse(
        rendering.card_sheet_pdf(cards, merchant_name=request.auth.merchant.name),
        content_type="application/pdf",
    )
    response["Content-Disposition"] = f'attachment; filename="cards-batch-{batch.number}-part{part}.pdf"'
    return response


@batches_router.get(
    "/{batch_id}/cards.csv",
    response=ERRORS,
    operation_id="downloadCardBatchCsv",
    summary="The batch's cards (CSV)",
    description="Every current card of the batch with its number, QR payload, type, status and store.",
    openapi_extra=_file("The CSV file, UTF-8.", "text/csv"),
)
def card_batch_csv(request: ApiRequest, batch_id: Id) -> StreamingHttpResponse:
    batch = _batch(request, batch_id)
    cards = selectors.batch_cards(CardBatch.objects.filter(pk=batch.pk)).iterator(chunk_size=2000)
    response = StreamingHttpResponse(rendering.cards_csv(cards), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="cards-batch-{batch.number}.csv"'
    return response
