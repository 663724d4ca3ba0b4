"""Issue 17: the steps a person must make — a card batch's initialise, assign, sell and confirm (D4),
and approving ("applying") an adjustment voucher under four-eyes (F2) — by an `admin` key, which acts
for the staff member who created it: their permissions and stores are checked, four-eyes holds by
person (a key of A's is A, in the API and in the back office), and the history names person and key."""

from __future__ import annotations

import pytest
from django.test import Client

from tessera.adjustments.models import AdjustmentSettings, AdjustmentVoucher, VoucherStatus
from tessera.cards import services as cards
from tessera.cards.models import Card, CardEvent, CardEventKind, CardStatus
from tessera.cards.tests.factories import CardTypeFactory
from tessera.tenancy.history import key_label
from tessera.tenancy.models import Scope
from tessera.tenancy.services import create_api_key
from tests.api.conftest import Api
from tests.factories import MemberFactory, StoreFactory, staff_user

pytestmark = pytest.mark.django_db

SALE = {"phone": "0903 123 456", "payment_method": "cash", "invoice_number": "HD-0042", "amount": 200_000}


class PersonsKey(Api):
    """An admin key made by `person` in the back office (its `created_by`)."""

    def __init__(self, merchant, person, name: str) -> None:  # type: ignore[no-untyped-def]
        self.key = create_api_key(merchant=merchant, name=name, scope=Scope.ADMIN, actor=person)
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {self.key.raw_key}")


@pytest.fixture
def anh(merchant):
    return staff_user(merchant, "merchant_admin", username="anh").user


@pytest.fixture
def binh(merchant):
    return staff_user(merchant, "merchant_admin", username="binh").user


@pytest.fixture
def anh_key(merchant, anh):
    return PersonsKey(merchant, anh, "Anh's script")


@pytest.fixture
def binh_key(merchant, binh):
    return PersonsKey(merchant, binh, "Bình's script")


@pytest.fixture
def batch(merchant):
    card_type = CardTypeFactory(merchant=merchant, name="Thẻ VIP", requires_sale=True)
    finance = staff_user(merchant, "finance", username="finance").user
    return cards.generate_batch(merchant=merchant, card_type=card_type, quantity=2, actor=finance)


def _code(response) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    return response.status_code, response.json().get("code", "")


def test_a_card_goes_from_batch_to_active_by_two_persons_keys_D4(merchant, store, batch, anh_key, binh_key):
    initialised = binh_key.post(f"/card-batches/{batch.pk}/initialise", {"card_type_id": None})
    assert initialised.status_code == 200, initialised.content
    assert initialised.json()["cards"] == 2
    assert _code(binh_key.post(f"/card-batches/{batch.pk}/assign", {"store_id": store.pk})) == (
        403,
        "same_person",
    )
    assigned = anh_key.post(f"/card-batches/{batch.pk}/assign", {"store_id": store.pk})
    assert assigned.status_code == 200, assigned.content
    assert assigned.json()["batch"]["cards_by_status"] == {"assigned": 2}
    number = Card.objects.filter(batch=batch).order_by("number").first().number

    sold = binh_key.post(f"/cards/{number}/sell", SALE)
    assert sold.status_code == 200, sold.content
    assert sold.json()["status"] == "sold"
    assert _code(binh_key.post(f"/cards/{number}/confirm", {"note": "checked"})) == (403, "same_person")
    confirmed = anh_key.post(f"/cards/{number}/confirm", {"note": "checked"})

    assert confirmed.status_code == 200, confirmed.content
    card = Card.objects.get(number=number, recycled_at__isnull=True)
    assert (card.status, card.amount, card.invoice_number) == (CardStatus.ACTIVE, 200_000, "HD-0042")
    events = CardEvent.objects.filter(card=card).order_by("at", "pk")
    assert [(e.kind, e.actor.username, e.data.get("api_key")) for e in events] == [
        (CardEventKind.GENERATED, "finance", None),
        (CardEventKind.INITIALISED, "binh", key_label(binh_key.key.key)),
        (CardEventKind.ASSIGNED, "anh", key_label(anh_key.key.key)),
        (CardEventKind.SOLD, "binh", key_label(binh_key.key.key)),
        (CardEventKind.CONFIRMED, "anh", key_label(anh_key.key.key)),
    ]
    last = card.history.latest("history_date")
    assert (last.history_user, last.history_change_reason) == (card.step_by, key_label(anh_key.key.key))


def test_the_key_makes_no_step_after_its_person_in_the_back_office_D4(
    client, merchant, store, batch, anh, anh_key
):
    cards.initialise_batch(batch=batch, actor=anh)

    refused = anh_key.post(f"/card-batches/{batch.pk}/assign", {"store_id": store.pk})

    assert _code(refused) == (403, "same_person")
    assert not Card.objects.filter(batch=batch, status=CardStatus.ASSIGNED).exists()


def test_a_key_made_by_no_person_makes_no_issuance_step(merchant, store, batch, admin):
    refused = admin.post(f"/card-batches/{batch.pk}/initialise", {})

    assert _code(refused) == (403, "key_without_person")
    assert Card.objects.filter(batch=batch, status=CardStatus.GENERATED).count() == 2


def test_the_key_can_do_no_more_than_its_person(merchant, store, batch, anh):
    cashier = staff_user(merchant, "cashier", stores=[store], username="cashier").user
    cashiers_key = PersonsKey(merchant, cashier, "Cashier's key")

    refused = cashiers_key.post(f"/card-batches/{batch.pk}/initialise", {})

    assert _code(refused) == (403, "permission_denied")
    anh.is_active = False
    anh.save()
    deactivated = PersonsKey(merchant, anh, "Old key")
    assert _code(deactivated.post(f"/card-batches/{batch.pk}/initialise", {})) == (403, "key_person_inactive")
    assert Card.objects.filter(batch=batch, status=CardStatus.GENERATED).count() == 2


def test_the_assign_form_offers_only_the_persons_stores(merchant, store, batch, binh):
    other_store = StoreFactory(merchant=merchant, code="hcm-1")
    cards.initialise_batch(batch=batch, actor=binh)
    manager = staff_user(merchant, "store_manager", stores=[store], username="manager").user
    key = PersonsKey(merchant, manager, "Manager's key")

    refused = key.post(f"/card-batches/{batch.pk}/assign", {"store_id": other_store.pk})

    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "store"]
    assert key.post(f"/card-batches/{batch.pk}/assign", {"store_id": store.pk}).status_code == 200


def test_other_merchants_ids_are_404_and_other_scopes_403(
    merchant, other_merchant, store, batch, anh_key, till
):
    cards.initialise_batch(batch=batch, actor=staff_user(merchant, "finance", username="f2").user)
    number = Card.objects.filter(batch=batch).first().number
    stranger_person = staff_user(other_merchant, "merchant_admin", username="stranger").user
    stranger = PersonsKey(other_merchant, stranger_person, "Stranger")

    assert _code(stranger.post(f"/card-batches/{batch.pk}/assign", {"store_id": store.pk})) == (
        404,
        "card_batch_not_found",
    )
    assert _code(stranger.post(f"/card-batches/{batch.pk}/initialise", {})) == (404, "card_batch_not_found")
    assert _code(stranger.post(f"/cards/{number}/sell", SALE)) == (404, "card_not_found")
    assert _code(stranger.post(f"/cards/{number}/confirm", {})) == (404, "card_not_found")
    assert _code(anh_key.post(f"/card-batches/{batch.pk}/assign", {"store_id": 10**9})) == (
        422,
        "invalid_fields",
    )
    for path, body in [
        (f"/card-batches/{batch.pk}/assign", {"store_id": store.pk}),
        (f"/cards/{number}/sell", SALE),
        (f"/cards/{number}/confirm", {}),
    ]:
        assert _code(till.post(path, body)) == (403, "insufficient_scope")


def test_a_card_not_assigned_is_not_sold_and_the_sell_forms_messages_hold(merchant, batch, anh_key):
    number = Card.objects.filter(batch=batch).first().number

    assert _code(anh_key.post(f"/cards/{number}/sell", SALE)) == (403, "wrong_store")
    bad = anh_key.post(f"/cards/{number}/sell", {**SALE, "invoice_number": ""})
    assert (bad.status_code, bad.json()["errors"][0]["loc"]) == (422, ["body", "invoice_number"])


# ------------------------------------------------------------------------------- vouchers, four-eyes (F2)


@pytest.fixture
def four_eyes(merchant):
    return AdjustmentSettings.objects.create(merchant=merchant, four_eyes=True)


@pytest.fixture
def member(merchant):
    return MemberFactory(merchant=merchant, phone="+84903123456")


def _voucher(key: Api) -> int:
    created = key.post("/adjustment-vouchers", {"phones": ["0903123456"], "points": 50, "reason": "Sorry"})
    assert created.status_code == 201, created.content
    return int(created.json()["id"])


def test_under_four_eyes_another_persons_key_approves_a_keys_voucher_F2(
    four_eyes, member, anh, anh_key, binh_key
):
    voucher_id = _voucher(anh_key)
    assert AdjustmentVoucher.objects.get(pk=voucher_id).created_by == anh

    refused = anh_key.post(f"/adjustment-vouchers/{voucher_id}/apply")
    assert _code(refused) == (403, "four_eyes")
    applied = binh_key.post(f"/adjustment-vouchers/{voucher_id}/apply")

    assert applied.status_code == 200, applied.content
    voucher = AdjustmentVoucher.objects.get(pk=voucher_id)
    assert (voucher.status, voucher.applied_by.username) == (VoucherStatus.APPLIED, "binh")
    rows = [
        (h.history_user.username, h.history_change_reason) for h in voucher.history.order_by("history_id")
    ]
    assert rows == [("anh", key_label(anh_key.key.key)), ("binh", key_label(binh_key.key.key))]


def test_under_four_eyes_the_creator_cannot_approve_in_the_back_office_F2(
    client, four_eyes, member, anh, anh_key
):
    voucher_id = _voucher(anh_key)
    client.force_login(anh)

    client.post(f"/admin/adjustments/adjustmentvoucher/{voucher_id}/apply/")

    assert AdjustmentVoucher.objects.get(pk=voucher_id).status == VoucherStatus.PENDING


def test_under_four_eyes_a_back_office_voucher_is_not_approved_by_its_creators_key_F2(
    client, four_eyes, member, anh, anh_key, binh_key
):
    client.force_login(anh)
    client.post(
        "/admin/adjustments/adjustmentvoucher/add/",
        {"phones": "0903123456", "points": "50", "reason": "Sorry", "code": "BO-1"},
    )
    voucher = AdjustmentVoucher.objects.get(code="BO-1")

    assert _code(anh_key.post(f"/adjustment-vouchers/{voucher.pk}/apply")) == (403, "four_eyes")
    assert binh_key.post(f"/adjustment-vouchers/{voucher.pk}/apply").status_code == 200


def test_under_four_eyes_a_key_made_by_no_person_approves_nothing_F2(four_eyes, member, anh_key, admin):
    voucher_id = _voucher(anh_key)

    assert _code(admin.post(f"/adjustment-vouchers/{voucher_id}/apply")) == (403, "key_without_person")
    assert AdjustmentVoucher.objects.get(pk=voucher_id).status == VoucherStatus.PENDING


def test_a_persons_key_approves_only_with_the_persons_permission_F2(merchant, four_eyes, member, anh_key):
    manager = staff_user(merchant, "store_manager", username="manager").user
    voucher_id = _voucher(anh_key)

    refused = PersonsKey(merchant, manager, "Manager's key").post(f"/adjustment-vouchers/{voucher_id}/apply")

    assert _code(refused) == (403, "permission_denied")
    assert AdjustmentVoucher.objects.get(pk=voucher_id).status == VoucherStatus.PENDING


def test_approval_of_another_merchants_voucher_is_404_and_a_till_403(
    other_merchant, four_eyes, member, anh_key, till
):
    voucher_id = _voucher(anh_key)
    stranger = PersonsKey(
        other_merchant, staff_user(other_merchant, "merchant_admin", username="s").user, "S"
    )

    assert _code(stranger.post(f"/adjustment-vouchers/{voucher_id}/apply")) == (404, "voucher_not_found")
    assert _code(till.post(f"/adjustment-vouchers/{voucher_id}/apply")) == (403, "insufficient_scope")
