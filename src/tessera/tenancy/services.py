"""Writes for merchants, stores, staff, roles and API keys. One transaction each."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from tessera.core.errors import ValidationFailed
from tessera.tenancy.models import ApiKey, Merchant, Role, StaffMembership, Store
from tessera.tenancy.roles import default_roles, permissions_for

API_KEY_PREFIX = "tsk"


@transaction.atomic
def create_merchant(*, name: str, slug: str, actor: Any = None, **fields: Any) -> Merchant:
    """A new tenant with the default roles (B1) ready to be given to its staff."""
    merchant = Merchant(name=name, slug=slug, **fields)
    merchant.stamp(actor)
    merchant.full_clean()
    merchant.save()
    sync_default_roles(merchant=merchant)
    return merchant


@transaction.atomic
def sync_default_roles(*, merchant: Merchant) -> list[Role]:
    """Create or refresh the merchant's default roles; custom roles are left as they are."""
    roles = []
    for key, spec in default_roles().items():
        role = Role.objects.filter(merchant=merchant, key=key).select_related("group").first()
        if role is None:
            group = Group.objects.create(name=f"{merchant.slug}:{key}")
            with translation.override(merchant.default_language):
                name = str(spec.name)
            role = Role.objects.create(merchant=merchant, group=group, key=key, name=name)
        role.group.permissions.set(permissions_for(spec.permissions))
        roles.append(role)
    return roles


@transaction.atomic
def create_role(*, merchant: Merchant, name: str, permission_ids: list[int], actor: Any = None) -> Role:
    group = Group.objects.create(name=f"{merchant.slug}:{secrets.token_hex(4)}")
    group.permissions.set(permission_ids)
    role = Role(merchant=merchant, group=group, name=name)
    role.stamp(actor)
    role.save()
    return role


@transaction.atomic
def create_store(*, merchant: Merchant, code: str, name: str, actor: Any = None, **fields: Any) -> Store:
    store = Store(merchant=merchant, code=code, name=name, **fields)
    store.stamp(actor)
    store.full_clean()
    store.save()
    return store


@transaction.atomic
def add_staff(
    *,
    merchant: Merchant,
    username: str,
    password: str | None,
    roles: list[Role],
    stores: list[Store] | None = None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    actor: Any = None,
) -> StaffMembership:
    """A back-office user of `merchant`: in every store when `stores` is None, else only in those (B2)."""
    foreign = [r for r in roles if r.merchant_id != merchant.pk] + [
        s for s in stores or [] if s.merchant_id != merchant.pk
    ]
    if foreign:
        raise ValidationFailed(_("Roles and stores must belong to the same merchant."), code="cross_merchant")
    user_model = get_user_model()
    user = user_model.objects.create_user(
        username=username,
        password=password,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_staff=True,
    )
    user.groups.set([r.group for r in roles])
    staff = StaffMembership(user=user, merchant=merchant, all_stores=stores is None)
    staff.stamp(actor)
    staff.save()
    if stores:
        staff.stores.set(stores)
    return staff


@dataclass(frozen=True)
class IssuedApiKey:
    key: ApiKey
    raw_key: str  # shown once, never stored


def _hash(secret: str) -> str:
    # The secret is 256 random bits, so a fast hash is safe; a slow one would tax every POS request.
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def create_api_key(
    *, merchant: Merchant, name: str, store: Store | None = None, actor: Any = None
) -> IssuedApiKey:
    if store is not None and store.merchant_id != merchant.pk:
        raise ValidationFailed(_("The store belongs to another merchant."), code="cross_merchant")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(merchant=merchant, store=store, name=name, prefix=prefix, hashed_secret=_hash(secret))
    key.stamp(actor)
    key.save()
    return IssuedApiKey(key=key, raw_key=f"{API_KEY_PREFIX}_{prefix}_{secret}")


def revoke_api_key(*, key: ApiKey, actor: Any = None) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.stamp(actor)
        key.save(update_fields=["revoked_at", "updated_by", "updated_at"])
    return key


def authenticate_api_key(*, raw_key: str) -> ApiKey | None:
    parts = raw_key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    key = (
        ApiKey.objects.select_related("merchant", "store")
        .filter(prefix=parts[1], revoked_at__isnull=True, merchant__is_active=True)
        .first()
    )
    if key is None or not hmac.compare_digest(key.hashed_secret, _hash(parts[2])):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        # Coarse on purpose: one write a minute per key, not one per request.
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def staff_of(user: Any) -> StaffMembership | None:
    """The user's place in a merchant, or None (anonymous users, platform operators)."""
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        membership: StaffMembership = user.staff
    except StaffMembership.DoesNotExist:
        return None
    return membership
