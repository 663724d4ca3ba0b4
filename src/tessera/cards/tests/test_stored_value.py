"""D4, D5 with the ledger: a confirmed sale loads the card, the value follows replacements and sub-cards."""

from __future__ import annotations

import pytest

from tessera.cards import selectors, services
from tessera.cards.models import Card, CardStatus
from tessera.core.errors import Conflict
from tessera.ledger.models import Entry, EntryKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def sold_prepaid(merchant, prepaid_type, finance, finance2, manager, cashier, store):
    batch = services.generate_batch(merchant=merchant, card_type=prepaid_type, quantity=1, actor=finance)
    services.initialise_batch(batch=batch, actor=finance2)
    services.assign_to_store(batch=batch, store=store, actor=manager)
    card = batch.cards.get()
    services.sell_card(
        card=card,
        actor=cashier,
        store=store,
        phone="0903 123 456",
        payment_method="bank_card",
        invoice_number="HD-1",
        amount=500_000,
    )
    return Card.objects.get(pk=card.pk)


def test_value_exists_only_once_the_sale_is_confirmed_D4(sold_prepaid, finance, store):
    assert sold_prepaid.account_id is None
    assert not Entry.objects.exists()

    card = services.confirm_sale(card=sold_prepaid, actor=finance)

    assert card.status == CardStatus.ACTIVE
    assert selectors.card_balances(card).stored_value == 500_000
    entry = Entry.objects.get(account=card.account)
    assert (entry.kind, entry.amount, entry.source, entry.store) == (
        EntryKind.TOP_UP,
        500_000,
        f"card:{card.pk}",
        store,
    )


def test_the_balance_and_its_history_move_to_the_replacement_card_D5(sold_prepaid, finance, manager):
    card = services.confirm_sale(card=sold_prepaid, actor=finance)
    services.report_lost(card=card, actor=manager)

    new = services.replace_card(card=card, actor=manager)

    assert selectors.card_balances(new).stored_value == 500_000
    assert new.account_id == card.account_id
    assert Entry.objects.filter(account=new.account).count() == 1


def test_a_sub_card_spends_from_the_main_cards_account_D5(sold_prepaid, finance, manager):
    from tessera.ledger import services as ledger

    main = services.confirm_sale(card=sold_prepaid, actor=finance)
    sub = services.issue_sub_card(main_card=main, actor=manager)

    ledger.debit(account=sub.account, amount=200_000, source="sale:1")

    assert selectors.card_balances(main).stored_value == 300_000
    assert selectors.card_balances(sub).stored_value == 300_000


def test_a_card_still_holding_value_is_not_recycled_D5(sold_prepaid, finance, manager):
    card = services.confirm_sale(card=sold_prepaid, actor=finance)
    services.report_lost(card=card, actor=manager)

    with pytest.raises(Conflict) as error:
        services.recycle_card(card=card, actor=manager)
    assert error.value.code == "balance_not_zero"


def test_a_replaced_card_is_recycled_while_its_value_stays_with_the_replacement_D5(
    sold_prepaid, finance, manager
):
    card = services.confirm_sale(card=sold_prepaid, actor=finance)
    new = services.replace_card(card=card, actor=manager)

    fresh = services.recycle_card(card=Card.objects.get(pk=card.pk), actor=manager)

    assert (fresh.number, fresh.account_id, fresh.member_id) == (card.number, None, None)
    assert selectors.card_balances(new).stored_value == 500_000


def test_api_shows_the_stored_value_of_a_card(client, merchant, sold_prepaid, finance):
    from tessera.tenancy.services import create_api_key

    card = services.confirm_sale(card=sold_prepaid, actor=finance)
    key = create_api_key(merchant=merchant, name="POS").raw_key

    body = client.get(f"/api/v1/cards/{card.number}", HTTP_AUTHORIZATION=f"Bearer {key}").json()

    assert body["balances"] == {"points": 0, "stored_value": 500_000}
