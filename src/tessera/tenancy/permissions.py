"""May this actor do this, for this merchant, in this store? The one check every service makes (B1, B2).

`actor` is a user or None. None is the system (a POS with its API key, a task, a command): the caller
has already scoped it to a merchant, so it may act. A user must hold the Django permission, be a
platform operator or work for the merchant, and, when store-scoped, work in the store concerned.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from tessera.core.errors import PermissionDenied
from tessera.tenancy.models import Merchant, StaffMembership, Store


def staff_of(user: Any) -> StaffMembership | None:
    """The user's place in a merchant, or None (anonymous users, platform operators)."""
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        membership: StaffMembership = user.staff
    except StaffMembership.DoesNotExist:
        return None
    return membership


def is_user(actor: Any) -> bool:
    return bool(getattr(actor, "is_authenticated", False))


def as_user(actor: Any) -> Any:
    """The actor when it is a signed-in user, else None (for `created_by`-style fields)."""
    return actor if is_user(actor) else None


def authorise(
    actor: Any,
    permission: str | None,
    *,
    merchant: Merchant | int,
    store: Store | None = None,
    user_required: bool = False,
) -> StaffMembership | None:
    """Raise PermissionDenied unless `actor` may use `permission` here; return their staff membership.

    Returns None for the system and for platform operators (superusers), who are not any merchant's staff.
    """
    if not is_user(actor):
        if user_required:
            raise PermissionDenied(
                _("This step must be done by a signed-in staff member."), code="actor_required"
            )
        return None
    staff = None
    if not actor.is_superuser:
        merchant_id = merchant if isinstance(merchant, int) else merchant.pk
        staff = staff_of(actor)
        if staff is None or staff.merchant_id != merchant_id:
            raise PermissionDenied(_("You do not work for this merchant."), code="cross_merchant")
        if store is not None and not staff.can_act_in(store):
            raise PermissionDenied(_("You do not work in this store."), code="wrong_store")
    if permission and not actor.has_perm(permission):
        raise PermissionDenied(_("You are not allowed to do this."), code="permission_denied")
    return staff
