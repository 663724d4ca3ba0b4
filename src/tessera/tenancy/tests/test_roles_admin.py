"""Roles (B1): a merchant's named sets of Tessera permissions; default roles can be edited, not deleted."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from tests.factories import role, staff_user

from tessera.core.errors import DomainError, PermissionDenied
from tessera.tenancy import services
from tessera.tenancy.models import Role

pytestmark = pytest.mark.django_db


def perm(label: str) -> Permission:
    app_label, codename = label.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


@pytest.fixture
def boss(merchant):
    return staff_user(merchant, "merchant_admin", username="boss")


@pytest.fixture
def boss_client(client, boss):
    client.force_login(boss.user)
    return client


def test_b1_role_page_offers_only_tessera_feature_permissions(boss_client):
    response = boss_client.get(reverse("admin:tenancy_role_add"))

    offered = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in response.context["adminform"].form.fields["permissions"].queryset
    }
    assert "members.view_member" in offered
    assert "members.export_member" in offered
    assert not {o for o in offered if o.split(".")[0] in {"auth", "contenttypes", "sessions", "axes"}}
    assert not {o for o in offered if "historical" in o}
    assert "tenancy.add_merchant" not in offered
    html = response.content.decode()
    assert 'class="tessera-perms"' in html
    assert f'value="{perm("members.export_member").pk}"' in html


def test_b1_merchant_admin_creates_a_role_with_a_permission_checklist(boss_client, merchant, boss):
    chosen = [perm("members.view_member"), perm("members.export_member")]

    response = boss_client.post(
        reverse("admin:tenancy_role_add"),
        {"name": "Auditor", "permissions": [p.pk for p in chosen], "_save": "Save"},
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    created = Role.objects.get(name="Auditor")
    assert created.merchant == merchant
    assert created.key == ""
    assert set(created.group.permissions.all()) == set(chosen)
    assert created.created_by == boss.user


def test_b1_nobody_grants_a_permission_they_do_not_hold(boss_client, merchant, boss):
    # The merchant admin may view ledger entries but not write them, nor manage Django users.
    for label in ("ledger.add_entry", "auth.add_user"):
        response = boss_client.post(
            reverse("admin:tenancy_role_add"),
            {"name": "Sneaky", "permissions": [perm(label).pk], "_save": "Save"},
        )
        assert response.status_code == 200
        assert "permissions" in response.context["adminform"].form.errors
    assert not Role.objects.filter(name="Sneaky").exists()
    with pytest.raises(PermissionDenied):
        services.create_role(
            merchant=merchant, name="Sneaky", permission_ids=[perm("ledger.add_entry").pk], actor=boss.user
        )


def test_b1_editing_a_default_role_keeps_what_the_editor_cannot_grant(boss_client, merchant):
    cashier = role(merchant, "cashier")
    before = set(cashier.group.permissions.all())
    kept_beyond_reach = {p for p in before if p not in set(services.grantable_permissions(None))}

    response = boss_client.post(
        reverse("admin:tenancy_role_change", args=[cashier.pk]),
        {"name": "Thu ngân", "permissions": [perm("members.view_member").pk], "_save": "Save"},
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    cashier.refresh_from_db()
    assert cashier.name == "Thu ngân"
    assert set(cashier.group.permissions.all()) == {perm("members.view_member"), *kept_beyond_reach}


def test_b3_permission_changes_are_kept_in_the_roles_history(merchant, boss):
    custom = services.create_role(
        merchant=merchant, name="Auditor", permission_ids=[perm("members.view_member").pk], actor=boss.user
    )

    services.update_role(
        role=custom, name="Auditor", permission_ids=[perm("members.export_member").pk], actor=boss.user
    )

    change = custom.history.latest()
    assert change.history_change_reason == "+members.export_member -members.view_member"
    assert change.history_user == boss.user


def test_b1_default_roles_cannot_be_deleted_custom_ones_can(boss_client, merchant, boss):
    default = role(merchant, "cashier")
    custom = services.create_role(merchant=merchant, name="Temp", permission_ids=[], actor=boss.user)

    assert boss_client.get(reverse("admin:tenancy_role_delete", args=[default.pk])).status_code == 403
    with pytest.raises(DomainError):
        services.delete_role(role=default, actor=boss.user)

    response = boss_client.post(reverse("admin:tenancy_role_delete", args=[custom.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Role.objects.filter(pk=custom.pk).exists()
    assert Role.objects.filter(pk=default.pk).exists()


def test_b1_roles_of_another_merchant_are_invisible(boss_client, boss, merchant, other_merchant):
    theirs = role(other_merchant, "cashier")

    listed = boss_client.get(reverse("admin:tenancy_role_changelist")).context["cl"].result_list

    assert {r.merchant_id for r in listed} == {merchant.pk}
    assert boss_client.get(reverse("admin:tenancy_role_change", args=[theirs.pk])).status_code == 404
    assert boss_client.get(reverse("admin:tenancy_role_history", args=[theirs.pk])).status_code == 404
    with pytest.raises(PermissionDenied):
        services.update_role(role=theirs, name="Owned", permission_ids=[], actor=boss.user)
