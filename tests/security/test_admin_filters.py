"""A list filter on a related store, tier, gift, connection… must offer only the staff member's own
merchant's rows (A1): Django's stock related filter lists every row of the related table."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from tessera.tenancy.admin_base import TenantAdmin
from tests.factories import StoreFactory, staff_user

pytestmark = pytest.mark.django_db


def test_a1_the_transaction_list_offers_only_the_merchants_stores(client, merchant, other_merchant):
    StoreFactory(merchant=merchant, name="Chi nhánh Hoàn Kiếm")
    StoreFactory(merchant=merchant, name="Chi nhánh Ba Đình")  # a filter with one choice is not shown
    StoreFactory(merchant=other_merchant, name="Foreign Store Only In B")
    client.force_login(staff_user(merchant, "merchant_admin").user)

    html = client.get(reverse("admin:sales_transaction_changelist")).content.decode()

    assert "Chi nhánh Hoàn Kiếm" in html
    assert "Foreign Store Only In B" not in html


def test_a1_every_related_list_filter_of_every_tenant_admin_is_scoped(merchant):
    request = RequestFactory().get("/")
    request.user = staff_user(merchant, "merchant_admin").user
    request.staff = request.user.staff  # type: ignore[attr-defined]
    unscoped = []
    for model, model_admin in admin.site._registry.items():
        if not isinstance(model_admin, TenantAdmin):
            continue
        for spec in model_admin.get_list_filter(request):
            if not isinstance(spec, str) or "__" in spec:
                continue
            field = model._meta.get_field(spec)
            if field.is_relation and hasattr(field.related_model._default_manager, "visible_to"):
                unscoped.append(f"{model._meta.label}.{spec}")
    assert unscoped == []
