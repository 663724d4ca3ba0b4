"""The roles every merchant starts with (B1). Permissions are Django's: `app.codename`, or `app.*`.

Each feature has view/add/change/delete and a print/export permission (`export_<model>`). A user may
hold several roles; what they can do is the union.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from django.apps import apps
from django.contrib.auth.models import Permission
from django.db.models import Q
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class RoleSpec:
    name: str | Promise
    permissions: tuple[str, ...]


#: The default roles. What each may do is granted by the apps: `tessera.<app>.roles.GRANTS`.
ROLE_NAMES: dict[str, str | Promise] = {
    "merchant_admin": _("Merchant admin"),
    "store_manager": _("Store manager"),
    "cashier": _("Cashier"),
    "marketing": _("Marketing"),
    "finance": _("Finance"),
}


def default_roles() -> dict[str, RoleSpec]:
    """Each default role with the permissions every installed Tessera app grants it."""
    grants: dict[str, list[str]] = {key: [] for key in ROLE_NAMES}
    for config in apps.get_app_configs():
        if not config.name.startswith("tessera."):
            continue
        try:
            module = import_module(f"{config.name}.roles")
        except ModuleNotFoundError:
            continue
        for key, patterns in module.GRANTS.items():
            grants[key].extend(patterns)
    return {key: RoleSpec(ROLE_NAMES[key], tuple(grants[key])) for key in ROLE_NAMES}


def permissions_for(patterns: tuple[str, ...]) -> list[Permission]:
    """Resolve `app.codename`, `app.*` and `app.*model` (all four CRUD perms plus export of a model)."""
    query = Q()
    for pattern in patterns:
        app_label, codename = pattern.split(".", 1)
        if codename == "*":
            query |= Q(content_type__app_label=app_label)
        elif codename.startswith("*"):
            query |= Q(content_type__app_label=app_label, content_type__model=codename[1:])
        else:
            query |= Q(content_type__app_label=app_label, codename=codename)
    return list(Permission.objects.select_related("content_type").filter(query)) if query else []


#: What the tenancy app grants each default role. Platform-level rights (creating merchants) are for
#: superusers only and are granted to no role.
GRANTS: dict[str, tuple[str, ...]] = {
    "merchant_admin": (
        "tenancy.view_merchant",
        "tenancy.change_merchant",
        "tenancy.*store",
        "tenancy.*staffmembership",
        "tenancy.*role",
        "tenancy.*apikey",
    ),
    "store_manager": ("tenancy.view_store", "tenancy.view_staffmembership"),
    "cashier": ("tenancy.view_store",),
    "marketing": ("tenancy.view_store",),
    "finance": ("tenancy.view_store",),
}
