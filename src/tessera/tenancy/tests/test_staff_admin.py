"""Staff management in the back office (B1, B2): a merchant admin manages its own staff, and only those."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from tests.factories import StoreFactory, role, staff_user

from tessera.core.errors import PermissionDenied, ValidationFailed
from tessera.tenancy import services
from tessera.tenancy.models import StaffMembership

pytestmark = pytest.mark.django_db

PASSWORD = "Quiet-river-2024!"


@pytest.fixture
def boss_client(client, merchant):
    admin = staff_user(merchant, "merchant_admin", username="boss")
    client.force_login(admin.user)
    client.staff = admin
    return client


def _add(client, **data):
    payload = {"username": "lan", "password1": PASSWORD, "password2": PASSWORD, "_save": "Save", **data}
    return client.post(reverse("admin:tenancy_staffmembership_add"), payload)


def test_b1_b2_merchant_admin_creates_a_cashier_for_one_store(boss_client, merchant):
    hoan_kiem = StoreFactory(merchant=merchant, name="Hoàn Kiếm")
    StoreFactory(merchant=merchant, name="Quận 1")

    response = _add(
        boss_client,
        first_name="Lan",
        last_name="Trần",
        email="lan@example.com",
        roles=[role(merchant, "cashier").pk],
        stores=[hoan_kiem.pk],
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    staff = StaffMembership.objects.get(user__username="lan")
    assert staff.merchant == merchant
    assert not staff.all_stores
    assert list(staff.stores.all()) == [hoan_kiem]
    assert [g.role.key for g in staff.user.groups.all()] == ["cashier"]
    assert staff.user.is_staff and not staff.user.is_superuser
    assert staff.user.check_password(PASSWORD)
    assert staff.created_by == boss_client.staff.user  # B3


def test_b1_staff_with_all_stores(boss_client, merchant):
    response = _add(boss_client, roles=[role(merchant, "finance").pk], all_stores="on")

    assert response.status_code == 302
    assert StaffMembership.objects.get(user__username="lan").all_stores


def test_b1_merchant_admin_cannot_grant_a_role_of_another_merchant(boss_client, merchant, other_merchant):
    store = StoreFactory(merchant=merchant)

    response = _add(boss_client, roles=[role(other_merchant, "merchant_admin").pk], stores=[store.pk])

    assert response.status_code == 200
    assert "roles" in response.context["adminform"].form.errors
    assert not User.objects.filter(username="lan").exists()


def test_b2_merchant_admin_cannot_grant_a_store_of_another_merchant(boss_client, merchant, other_merchant):
    foreign_store = StoreFactory(merchant=other_merchant)

    response = _add(boss_client, roles=[role(merchant, "cashier").pk], stores=[foreign_store.pk])

    assert response.status_code == 200
    assert "stores" in response.context["adminform"].form.errors
    assert not User.objects.filter(username="lan").exists()


def test_b1_merchant_admin_cannot_create_a_superuser(boss_client, merchant):
    response = _add(boss_client, roles=[role(merchant, "cashier").pk], all_stores="on", is_superuser="on")

    assert response.status_code == 302
    user = User.objects.get(username="lan")
    assert not user.is_superuser
    assert boss_client.get(reverse("admin:auth_user_changelist")).status_code == 403
    assert boss_client.get(reverse("admin:auth_group_changelist")).status_code == 403


def test_b1_staff_list_shows_only_the_merchants_own_staff(boss_client, merchant, other_merchant):
    mine = staff_user(merchant, "cashier", username="mine")
    theirs = staff_user(other_merchant, "cashier", username="theirs")

    response = boss_client.get(reverse("admin:tenancy_staffmembership_changelist"))

    shown = {s.user.username for s in response.context["cl"].result_list}
    assert shown == {"boss", "mine"}
    assert boss_client.get(reverse("admin:tenancy_staffmembership_change", args=[mine.pk])).status_code == 200
    assert (
        boss_client.get(reverse("admin:tenancy_staffmembership_change", args=[theirs.pk])).status_code == 404
    )


def test_b1_edit_roles_and_stores_then_deactivate(boss_client, client, merchant):
    store1, store2 = StoreFactory(merchant=merchant), StoreFactory(merchant=merchant)
    cashier = staff_user(merchant, "cashier", stores=[store1], username="an")
    url = reverse("admin:tenancy_staffmembership_change", args=[cashier.pk])

    response = boss_client.post(
        url,
        {
            "first_name": "An",
            "email": "an@example.com",
            "is_active": "on",
            "roles": [role(merchant, "store_manager").pk, role(merchant, "marketing").pk],
            "stores": [store2.pk],
            "_save": "Save",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    cashier.refresh_from_db()
    assert sorted(g.role.key for g in cashier.user.groups.all()) == ["marketing", "store_manager"]
    assert list(cashier.stores.all()) == [store2]
    assert cashier.user.email == "an@example.com"

    boss_client.post(
        reverse("admin:tenancy_staffmembership_changelist"),
        {"action": "deactivate", "_selected_action": [cashier.pk]},
    )
    cashier.user.refresh_from_db()
    assert not cashier.user.is_active
    client.logout()
    refused = client.post(
        reverse("admin:login"), {"username": "an", "password": "correct horse battery staple"}
    )
    assert refused.status_code == 200
    assert "_auth_user_id" not in client.session


def test_b1_staff_cannot_be_deleted_only_deactivated(boss_client, merchant):
    cashier = staff_user(merchant, "cashier")

    response = boss_client.get(reverse("admin:tenancy_staffmembership_delete", args=[cashier.pk]))

    assert response.status_code == 403


def test_b2_a_store_manager_sees_only_the_staff_of_their_store(client, merchant):
    store1, store2 = StoreFactory(merchant=merchant), StoreFactory(merchant=merchant)
    manager = staff_user(merchant, "store_manager", stores=[store1], username="manager")
    staff_user(merchant, "cashier", stores=[store1], username="cashier1")
    staff_user(merchant, "cashier", stores=[store2], username="cashier2")
    staff_user(merchant, "merchant_admin", username="boss")
    client.force_login(manager.user)

    response = client.get(reverse("admin:tenancy_staffmembership_changelist"))

    assert {s.user.username for s in response.context["cl"].result_list} == {"manager", "cashier1"}


def test_b2_store_scoped_actor_cannot_hand_out_wider_access(merchant):
    store1, store2 = StoreFactory(merchant=merchant), StoreFactory(merchant=merchant)
    manager = staff_user(merchant, "store_manager", stores=[store1])

    with pytest.raises(PermissionDenied):
        services.add_staff(
            merchant=merchant, username="x", password=PASSWORD, roles=[], stores=None, actor=manager.user
        )
    with pytest.raises(PermissionDenied):
        services.add_staff(
            merchant=merchant, username="y", password=PASSWORD, roles=[], stores=[store2], actor=manager.user
        )
    assert not User.objects.filter(username__in=["x", "y"]).exists()


def test_b1_services_refuse_staff_changes_across_merchants(merchant, other_merchant):
    intruder = staff_user(other_merchant, "merchant_admin")
    victim = staff_user(merchant, "cashier")

    with pytest.raises(PermissionDenied):
        services.update_staff(
            staff=victim, roles=[role(merchant, "merchant_admin")], stores=None, actor=intruder.user
        )
    with pytest.raises(PermissionDenied):
        services.deactivate_staff(staff=victim, actor=intruder.user)
    with pytest.raises(ValidationFailed):
        services.update_staff(staff=victim, roles=[role(other_merchant, "cashier")], stores=None)
    victim.user.refresh_from_db()
    assert victim.user.is_active
    assert [g.role.key for g in victim.user.groups.all()] == ["cashier"]
