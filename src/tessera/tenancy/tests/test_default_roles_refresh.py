"""B1 on upgrade: after `migrate`, every merchant's default roles get the permissions a new release
grants them and lose those it no longer grants, while what the merchant's own admins changed in a
default role stays changed; custom roles are never touched."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tessera.tenancy import roles as role_specs
from tessera.tenancy import services
from tessera.tenancy.models import Role
from tessera.tenancy.services import create_merchant

pytestmark = pytest.mark.django_db


def _perm(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def _held(role: Role) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in role.group.permissions.all()}


def _release(monkeypatch, *, cashier_adds: tuple[str, ...] = (), cashier_drops: tuple[str, ...] = ()):
    """A later release whose apps grant the cashier more, or less, than this one."""
    current = role_specs.default_roles

    def later() -> dict[str, role_specs.RoleSpec]:
        specs = current()
        cashier = specs["cashier"]
        kept = tuple(p for p in cashier.permissions if p not in cashier_drops)
        specs["cashier"] = role_specs.RoleSpec(cashier.name, kept + cashier_adds)
        return specs

    monkeypatch.setattr(services, "default_roles", later)


def test_a_release_grants_what_it_adds_takes_back_what_it_drops_and_keeps_the_admins_changes(monkeypatch):
    merchant = create_merchant(name="Upgrade", slug="upgrade", currency="VND")
    cashier = Role.objects.get(merchant=merchant, key="cashier")
    assert "tenancy.view_store" in _held(cashier)
    own = Role.objects.create(merchant=merchant, group=Group.objects.create(name="upgrade:own"), name="Own")
    own.group.permissions.add(_perm("tenancy.view_store"))
    # The merchant's admin took one default permission away and gave one of their own.
    taken_away = next(p for p in cashier.granted_by_default if p != "tenancy.view_store")
    cashier.group.permissions.remove(_perm(taken_away))
    cashier.group.permissions.add(_perm("tenancy.view_role"))

    _release(monkeypatch, cashier_adds=("tenancy.view_apikey",), cashier_drops=("tenancy.view_store",))
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")  # what `migrate` ends with

    cashier.refresh_from_db()
    held = _held(cashier)
    assert "tenancy.view_apikey" in held  # the release's new grant
    assert "tenancy.view_store" not in held  # the release's dropped grant
    assert "tenancy.view_role" in held  # the admin's own addition stays
    assert taken_away not in held  # the admin's removal stays
    assert "tenancy.view_apikey" in cashier.granted_by_default
    assert _held(own) == {"tenancy.view_store"}  # a custom role is not touched


def test_roles_from_before_the_bookkeeping_get_what_they_lack_and_lose_nothing(monkeypatch):
    merchant = create_merchant(name="Legacy", slug="legacy", currency="VND")
    cashier = Role.objects.get(merchant=merchant, key="cashier")
    missing = sorted(cashier.granted_by_default)[-1]
    Role.objects.filter(pk=cashier.pk).update(granted_by_default=[])
    cashier.group.permissions.remove(_perm(missing))
    cashier.group.permissions.add(_perm("tenancy.view_role"))

    services.refresh_default_roles()

    cashier.refresh_from_db()
    assert missing in _held(cashier)
    assert "tenancy.view_role" in _held(cashier)
    assert missing in cashier.granted_by_default


def test_an_unchanged_release_writes_nothing():
    create_merchant(name="Steady", slug="steady", currency="VND")
    with CaptureQueriesContext(connection) as queries:
        services.refresh_default_roles()
    verbs = [q["sql"].split()[0] for q in queries.captured_queries]
    writes = [verb for verb in verbs if verb in ("INSERT", "UPDATE", "DELETE")]
    assert writes == []
