"""Reads for the back office's organisation pages: who sees which staff, and the permission matrix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.contrib.auth.models import Permission
from django.db.models import QuerySet
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tessera.tenancy.models import Merchant, Role, StaffMembership
from tessera.tenancy.permissions import staff_of

#: The columns of the permission matrix (B1): Django's four, plus print/export (`export_<model>`).
MATRIX_ACTIONS = ("view", "add", "change", "delete", "export")
ACTION_LABELS = {
    "view": _("View"),
    "add": _("Add"),
    "change": _("Change"),
    "delete": _("Delete"),
    "export": _("Print/export"),
}


def merchants_visible_to(user: Any) -> QuerySet[Merchant]:
    """Operators see every merchant; staff only their own."""
    if user.is_superuser:
        return Merchant.objects.all()
    staff = staff_of(user)
    return Merchant.objects.filter(pk=staff.merchant_id) if staff else Merchant.objects.none()


def staff_visible_to(user: Any) -> QuerySet[StaffMembership]:
    """Operators see all staff; staff of all stores see their merchant's; store-scoped staff see the
    store-scoped colleagues of their own stores (never the merchant-wide staff above them)."""
    qs = StaffMembership.objects.select_related("user", "merchant")
    if user.is_superuser:
        return qs
    staff = staff_of(user)
    if staff is None:
        return qs.none()
    qs = qs.filter(merchant_id=staff.merchant_id)
    if not staff.all_stores:
        qs = qs.filter(all_stores=False, stores__in=staff.store_ids()).distinct()
    return qs


def roles_of_user(user: Any) -> QuerySet[Role]:
    return Role.objects.filter(group__user=user)


@dataclass
class PermissionCell:
    value: str
    label: str
    checked: bool


@dataclass
class PermissionRow:
    """One feature (a model) with a cell per action and any extra permissions it defines."""

    title: str
    cells: list[PermissionCell | None]
    other: list[PermissionCell] = field(default_factory=list)


@dataclass
class PermissionGroup:
    title: str
    rows: list[PermissionRow]


def permission_matrix(choices: list[tuple[Permission, str]], selected: set[str]) -> list[PermissionGroup]:
    """Group permissions by app and model; each row has view/add/change/delete/export columns."""
    rows: dict[int, PermissionRow] = {}
    app_of_row: dict[int, str] = {}
    for perm, value in choices:
        ct = perm.content_type
        model = ct.model_class()
        if ct.pk not in rows:
            title = str(model._meta.verbose_name_plural).capitalize() if model else ct.model
            rows[ct.pk] = PermissionRow(title=title, cells=[None] * len(MATRIX_ACTIONS))
            app_of_row[ct.pk] = str(apps.get_app_config(ct.app_label).verbose_name)
        row = rows[ct.pk]
        action = perm.codename.split("_", 1)[0]
        if action in MATRIX_ACTIONS and perm.codename == f"{action}_{ct.model}":
            # Django stores these names in English ("Can add member"): say them from the action and model.
            label = f"{ACTION_LABELS[action]}: {row.title}"
            row.cells[MATRIX_ACTIONS.index(action)] = PermissionCell(value, label, value in selected)
        else:
            row.other.append(PermissionCell(value=value, label=gettext(perm.name), checked=value in selected))
    groups: dict[str, list[PermissionRow]] = {}
    for pk, row in rows.items():
        groups.setdefault(app_of_row[pk], []).append(row)
    return [
        PermissionGroup(title=title, rows=sorted(group_rows, key=lambda r: r.title))
        for title, group_rows in groups.items()
    ]
