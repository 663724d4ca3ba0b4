"""Card batches in the back office (D3, D6, issue 14): numbered per merchant, their card numbers on their
page, and never deleted — their numbers are drawn for good and may be printed already."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from tessera.cards import services
from tessera.cards.models import CardBatch
from tessera.cards.tests.factories import CardTypeFactory

pytestmark = pytest.mark.django_db


def test_batches_are_numbered_per_merchant_D3(merchant, other_merchant, points_type):
    other_type = CardTypeFactory(merchant=other_merchant, name="会员卡", number_prefix="6601")
    first = services.generate_batch(merchant=merchant, card_type=points_type, quantity=1)
    theirs = services.generate_batch(merchant=other_merchant, card_type=other_type, quantity=1)
    second = services.generate_batch(merchant=merchant, card_type=points_type, quantity=1)

    assert (first.number, second.number, theirs.number) == (1, 2, 1)
    assert str(second).startswith("Batch #2 ")


def test_the_batch_page_lists_its_card_numbers_and_offers_no_delete_D3(
    client, merchant, points_type, finance
):
    services.generate_batch(merchant=merchant, card_type=points_type, quantity=1)
    batch = services.generate_batch(merchant=merchant, card_type=points_type, quantity=3, actor=finance)
    client.force_login(finance)

    page = client.get(reverse("admin:cards_cardbatch_change", args=[batch.pk])).content.decode()

    numbers = list(batch.cards.order_by("number").values_list("number", flat=True))
    assert 'id="batch-cards"' in page
    assert all(number in page for number in numbers)
    assert reverse("admin:cards_cardbatch_delete", args=[batch.pk]) not in page
    listing = client.get(reverse("admin:cards_cardbatch_changelist")).content.decode()
    assert "delete_selected" not in listing
    assert (
        f"cards-batch-{batch.number}"
        in client.get(reverse("admin:cards_cardbatch_csv", args=[batch.pk]))["Content-Disposition"]
    )


def test_a_printed_batch_cannot_be_deleted_even_by_a_merchant_admin_D3(
    client, merchant, points_type, admin_user
):
    batch = services.generate_batch(merchant=merchant, card_type=points_type, quantity=2, actor=admin_user)
    client.force_login(admin_user)
    client.get(reverse("admin:cards_cardbatch_sheet", args=[batch.pk]))  # printed

    url = reverse("admin:cards_cardbatch_delete", args=[batch.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"post": "yes"}).status_code == 403
    bulk = client.post(
        reverse("admin:cards_cardbatch_changelist"),
        {"action": "delete_selected", "_selected_action": [batch.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    assert CardBatch.objects.filter(pk=batch.pk).exists()
    assert batch.cards.count() == 2


BEFORE = [("cards", "0001_initial")]
AFTER = [("cards", "0002_cardbatch_number")]


@pytest.mark.django_db(transaction=True)
def test_existing_batches_are_numbered_in_order_per_merchant_by_the_migration(merchant, other_merchant):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    old_batch = apps.get_model("cards", "CardBatch")
    old_type = apps.get_model("cards", "CardType")
    ours = old_type.objects.create(merchant_id=merchant.pk, name="A", kind="points")
    theirs = old_type.objects.create(merchant_id=other_merchant.pk, name="B", kind="points")
    made = [
        old_batch.objects.create(merchant_id=m, type_id=t.pk, quantity=1, note=note)
        for m, t, note in [
            (merchant.pk, ours, "a1"),
            (other_merchant.pk, theirs, "b1"),
            (merchant.pk, ours, "a2"),
            (merchant.pk, ours, "a3"),
        ]
    ]
    assert len(made) == 4

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    try:
        assert dict(CardBatch.objects.values_list("note", "number")) == {"a1": 1, "a2": 2, "a3": 3, "b1": 1}
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
