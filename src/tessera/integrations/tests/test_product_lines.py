"""Issue 15 §4: a shop's orders carry each line's category and labels into the sale, so product rules
count them: Shopify-shaped webhooks (`product_type`, `vendor`, `properties`) and the generic API."""

from __future__ import annotations

import pytest

from tessera.core.limits import MAX_LABELS
from tessera.integrations.tests.conftest import payload
from tessera.integrations.tests.test_api import ORDER, System
from tessera.rules.tests.factories import make_rule
from tessera.sales.models import Transaction
from tessera.tenancy.services import create_api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def erp(merchant, rules, online_store):
    return System(create_api_key(merchant=merchant, name="ERP", store=online_store).raw_key)


def test_a_shop_order_maps_product_type_vendor_and_properties_to_category_and_labels(shop, merchant):
    data = payload("order_paid")
    coffee = data["line_items"][0]
    coffee["product_type"] = "cof\tfee"  # a control character is dropped
    coffee["vendor"] = "Cầu Đất Farm"
    coffee["properties"] = [
        {"name": "roast", "value": "medium"},
        {"name": "_shop_internal", "value": "x"},
        *({"name": f"p{i}", "value": "v" * 100} for i in range(30)),
    ]
    make_rule(merchant, "Coffee bonus", effect="product", bonus_points=10, include_categories=["coffee"])

    response = shop.post("orders/paid", data)

    assert response.status_code == 200, response.content
    sale = Transaction.objects.of(merchant).get()
    first, second, _third = sale.lines.all()
    assert first.category == "coffee"
    # The first 20 in the shop's order: the vendor, the roast and 18 more (PostgreSQL keeps no key order).
    assert (first.labels["vendor"], first.labels["roast"]) == ("Cầu Đất Farm", "medium")
    assert (
        len(first.labels) == MAX_LABELS and "_shop_internal" not in first.labels and "p18" not in first.labels
    )
    assert all(len(value) <= 64 for value in first.labels.values())
    assert (second.category, second.labels) == ("", {})
    # 10 points for each of the 2 bags of coffee; the other lines earn nothing under this rule.
    assert (sale.points_earned, first.points, second.points) == (20, 20, 0)


def test_the_generic_order_api_carries_category_and_labels(erp, merchant):
    order = {**ORDER, "lines": [{**ORDER["lines"][0], "category": "drinks", "labels": {"temp": "iced"}}]}

    response = erp.post("/orders", order)

    assert response.status_code in (200, 201), response.content
    line = Transaction.objects.of(merchant).get().lines.get()
    assert (line.category, line.labels) == ("drinks", {"temp": "iced"})


def test_the_generic_order_api_refuses_labels_out_of_bounds(erp):
    order = {**ORDER, "lines": [{**ORDER["lines"][0], "labels": {"k" * 65: "v"}}]}

    response = erp.post("/orders", order)

    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/problem+json")
