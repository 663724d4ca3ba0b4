"""Merchant, store and API-key pages (A1, A2, B2): each merchant sees only itself, each store only its own."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from tests.factories import StoreFactory, staff_user

from tessera.tenancy import services
from tessera.tenancy.models import ApiKey, Merchant, Store

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss(merchant):
    return staff_user(merchant, "merchant_admin", username="boss")


@pytest.fixture
def boss_client(client, boss):
    client.force_login(boss.user)
    return client


@pytest.fixture
def operator_client(client):
    client.force_login(User.objects.create_superuser("operator", "op@example.com", "Op-secret-2024!"))
    return client


# --- merchants (A1) -----------------------------------------------------------------------------------


def test_a1_merchant_admin_sees_and_edits_only_its_own_merchant(boss_client, boss, merchant, other_merchant):
    listed = boss_client.get(reverse("admin:tenancy_merchant_changelist")).context["cl"].result_list
    assert list(listed) == [merchant]
    assert (
        boss_client.get(reverse("admin:tenancy_merchant_change", args=[other_merchant.pk])).status_code == 404
    )
    assert (
        boss_client.get(reverse("admin:tenancy_merchant_history", args=[other_merchant.pk])).status_code
        == 404
    )

    form = (
        boss_client.get(reverse("admin:tenancy_merchant_change", args=[merchant.pk]))
        .context["adminform"]
        .form
    )
    assert "slug" not in form.fields and "is_active" not in form.fields
    response = boss_client.post(
        reverse("admin:tenancy_merchant_change", args=[merchant.pk]),
        {
            "name": "Phở Hà Nội 1954",
            "slug": "stolen",
            "currency": "VND",
            "time_zone": "Asia/Ho_Chi_Minh",
            "default_language": "en",
            "country": "VN",
            "primary_color": "#b91c1c",
            "accent_color": "#f59e0b",
            "auto_activate_members": "",
            "_save": "Save",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    merchant.refresh_from_db()
    assert (merchant.name, merchant.slug, merchant.default_language) == (
        "Phở Hà Nội 1954",
        "pho-ha-noi",
        "en",
    )
    assert merchant.primary_color == "#b91c1c"
    assert merchant.auto_activate_members is False
    assert merchant.updated_by == boss.user
    latest = merchant.history.latest()
    assert latest.history_user == boss.user and latest.name == "Phở Hà Nội 1954"  # B3
    assert boss_client.get(reverse("admin:tenancy_merchant_history", args=[merchant.pk])).status_code == 200


def test_a1_only_operators_create_merchants(boss_client):
    assert boss_client.get(reverse("admin:tenancy_merchant_add")).status_code == 403


def test_a1_operator_creates_a_merchant_with_its_default_roles(operator_client):
    response = operator_client.post(
        reverse("admin:tenancy_merchant_add"),
        {
            "name": "Bún Chả Hương Liên",
            "slug": "bun-cha",
            "is_active": "on",
            "currency": "VND",
            "time_zone": "Asia/Ho_Chi_Minh",
            "default_language": "vi",
            "country": "VN",
            "primary_color": "#0f766e",
            "accent_color": "#f59e0b",
            "auto_activate_members": "on",
            "_save": "Save",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    created = Merchant.objects.get(slug="bun-cha")
    assert created.roles.count() == 5
    assert created.created_by.username == "operator"


def test_a1_operators_see_every_merchant(operator_client, merchant, other_merchant):
    listed = operator_client.get(reverse("admin:tenancy_merchant_changelist")).context["cl"].result_list
    assert set(listed) == {merchant, other_merchant}


# --- stores (A2, B2) ----------------------------------------------------------------------------------


def test_b2_cashier_of_store_1_does_not_see_store_2(client, merchant, other_merchant):
    store1, store2 = StoreFactory(merchant=merchant, name="Hoàn Kiếm"), StoreFactory(merchant=merchant)
    foreign = StoreFactory(merchant=other_merchant)
    cashier = staff_user(merchant, "cashier", stores=[store1])
    client.force_login(cashier.user)

    listed = client.get(reverse("admin:tenancy_store_changelist")).context["cl"].result_list

    assert list(listed) == [store1]
    assert client.get(reverse("admin:tenancy_store_change", args=[store1.pk])).status_code == 200
    assert client.get(reverse("admin:tenancy_store_change", args=[store2.pk])).status_code == 404
    assert client.get(reverse("admin:tenancy_store_change", args=[foreign.pk])).status_code == 404
    # A cashier has no business with API keys at all.
    assert client.get(reverse("admin:tenancy_apikey_changelist")).status_code == 403


def test_a2_merchant_admin_sees_all_its_stores_and_adds_one(boss_client, boss, merchant, other_merchant):
    StoreFactory(merchant=merchant, name="Hoàn Kiếm")
    StoreFactory(merchant=other_merchant, name="上海")

    response = boss_client.post(
        reverse("admin:tenancy_store_add"),
        {
            "code": "q1",
            "name": "Quận 1",
            "address": "1 Lê Lợi",
            "time_zone": "",
            "is_active": "on",
            "_save": "Save",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    created = Store.objects.get(code="q1")
    assert created.merchant == merchant and created.created_by == boss.user
    listed = boss_client.get(reverse("admin:tenancy_store_changelist")).context["cl"].result_list
    assert {s.name for s in listed} == {"Hoàn Kiếm", "Quận 1"}


# --- API keys (B2) ------------------------------------------------------------------------------------


def test_api_key_is_shown_once_on_creation_and_works(boss_client, merchant):
    store = StoreFactory(merchant=merchant)

    response = boss_client.post(
        reverse("admin:tenancy_apikey_add"),
        {"name": "Quầy 1", "scope": "pos", "store": store.pk, "_save": "Save"},
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw = re.search(r"tsk_[0-9a-f]+_[\w-]+", response.content.decode()).group(0)
    key = ApiKey.objects.get(name="Quầy 1")
    assert (key.merchant, key.store, key.scope) == (merchant, store, "pos")
    assert services.authenticate_api_key(raw_key=raw) == key
    detail = boss_client.get(reverse("admin:tenancy_apikey_change", args=[key.pk])).content.decode()
    assert raw not in detail and raw.split("_", 2)[2] not in detail  # the secret may hold a "_"


def test_api_key_revoke_action(boss_client, boss, merchant):
    issued = services.create_api_key(merchant=merchant, name="POS")

    boss_client.post(
        reverse("admin:tenancy_apikey_changelist"), {"action": "revoke", "_selected_action": [issued.key.pk]}
    )

    issued.key.refresh_from_db()
    assert issued.key.revoked_at is not None and issued.key.updated_by == boss.user
    assert services.authenticate_api_key(raw_key=issued.raw_key) is None


def test_b2_store_scoped_staff_see_only_their_stores_api_keys(client, merchant, other_merchant):
    store1, store2 = StoreFactory(merchant=merchant), StoreFactory(merchant=merchant)
    key1 = services.create_api_key(merchant=merchant, store=store1, name="Store 1 POS").key
    key2 = services.create_api_key(merchant=merchant, store=store2, name="Store 2 POS").key
    services.create_api_key(merchant=merchant, name="Shop integration")
    foreign = services.create_api_key(merchant=other_merchant, name="Theirs").key
    keys_role = services.create_role(
        merchant=merchant,
        name="Key keeper",
        permission_ids=list(
            services.grantable_permissions()
            .filter(codename__in=["view_apikey", "add_apikey"])
            .values_list("pk", flat=True)
        ),
    )
    keeper = services.add_staff(
        merchant=merchant, username="keeper", password=None, roles=[keys_role], stores=[store1]
    )
    client.force_login(keeper.user)

    listed = client.get(reverse("admin:tenancy_apikey_changelist")).context["cl"].result_list

    assert list(listed) == [key1]
    assert client.get(reverse("admin:tenancy_apikey_change", args=[key2.pk])).status_code == 404
    assert client.get(reverse("admin:tenancy_apikey_change", args=[foreign.pk])).status_code == 404
    # Issuing a key for another store, or a merchant-wide one, is refused by the form.
    for store in (store2.pk, ""):
        refused = client.post(
            reverse("admin:tenancy_apikey_add"), {"name": "Mine", "scope": "pos", "store": store}
        )
        assert refused.status_code == 200 and "store" in refused.context["adminform"].form.errors
    assert not ApiKey.objects.filter(name="Mine").exists()


def test_the_admin_chooses_a_keys_scope_and_an_administration_key_is_merchant_wide(boss_client, merchant):
    store = StoreFactory(merchant=merchant)

    refused = boss_client.post(
        reverse("admin:tenancy_apikey_add"), {"name": "Back office sync", "scope": "admin", "store": store.pk}
    )
    boss_client.post(
        reverse("admin:tenancy_apikey_add"), {"name": "Back office sync", "scope": "admin:read", "store": ""}
    )

    assert "store" in refused.context["adminform"].form.errors
    key = ApiKey.objects.get(name="Back office sync")
    assert (key.scope, key.store) == ("admin:read", None)


def test_api_keys_of_another_merchant_are_invisible(boss_client, merchant, other_merchant):
    foreign = services.create_api_key(merchant=other_merchant, name="Theirs").key

    listed = boss_client.get(reverse("admin:tenancy_apikey_changelist")).context["cl"].result_list

    assert foreign not in listed
    assert boss_client.get(reverse("admin:tenancy_apikey_change", args=[foreign.pk])).status_code == 404


def test_a1_the_back_office_names_the_staffs_merchant(boss_client):
    html = boss_client.get(reverse("admin:index")).content.decode()

    assert "Phở Hà Nội" in html
