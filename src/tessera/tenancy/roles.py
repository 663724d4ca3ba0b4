"""The roles every merchant starts with (B1). Permissions are Django's: `app.codename`, or `app.*`.

Each feature has view/add/change/delete and a print/export permission (`export_<model>`). A user may
hold several roles; what they can do is the union.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Permission
from django.db.models import Q
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class RoleSpec:
    name: str | Promise
    permissions: tuple[str, ...]


#: Models a merchant admin manages in full. Platform-level models (Merchant itself) are not here.
_ADMIN = (
    "members.*",
    "tenancy.view_merchant",
    "tenancy.change_merchant",
    "tenancy.*store",
    "tenancy.*staffmembership",
    "tenancy.*role",
    "tenancy.*apikey",
    "auth.view_user",
    "auth.add_user",
    "auth.change_user",
)

DEFAULT_ROLES: dict[str, RoleSpec] = {
    "merchant_admin": RoleSpec(_("Merchant admin"), _ADMIN),
    "store_manager": RoleSpec(
        _("Store manager"),
        (
            "members.view_member",
            "members.add_member",
            "members.change_member",
            "members.activate_member",
            "members.exclude_member",
            "members.reactivate_member",
            "members.change_member_phone",
            "members.export_member",
            "members.view_tag",
            "members.add_tag",
            "members.view_segment",
            "members.view_anniversary",
            "members.add_anniversary",
            "members.change_anniversary",
            "tenancy.view_store",
            "tenancy.view_staffmembership",
        ),
    ),
    "cashier": RoleSpec(
        _("Cashier"),
        (
            "members.view_member",
            "members.add_member",
            "members.change_member",
            "members.activate_member",
            "members.view_tag",
            "members.view_anniversary",
            "members.add_anniversary",
            "tenancy.view_store",
        ),
    ),
    "marketing": RoleSpec(
        _("Marketing"),
        (
            "members.view_member",
            "members.export_member",
            "members.*segment",
            "members.*tag",
            "members.view_anniversary",
            "tenancy.view_store",
        ),
    ),
    "finance": RoleSpec(
        _("Finance"),
        ("members.view_member", "members.export_member", "members.view_segment", "tenancy.view_store"),
    ),
}


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
    return list(Permission.objects.filter(query)) if query else []
