"""Writes for merchants, stores, staff, roles and API keys. One transaction each."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connections, transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from tessera.core.errors import DomainError, PermissionDenied, ValidationFailed
from tessera.core.models import restored
from tessera.core.prepared import Prepared
from tessera.tenancy.models import (
    MERCHANT_WIDE_SCOPES,
    ApiKey,
    Merchant,
    OperatorKey,
    Role,
    Scope,
    StaffMembership,
    Store,
)
from tessera.tenancy.permissions import authorise, is_user, staff_of
from tessera.tenancy.roles import default_roles, permissions_for

API_KEY_PREFIX = "tsk"
#: An operator key reads `tso_<prefix>_<secret>`: which table to look in is told by the key itself.
OPERATOR_KEY_PREFIX = "tso"
#: How stale a key's `last_used_at` may be: it is written at most once in this period per key, so the
#: till's requests do not each write a row (issue 17).
LAST_USE_PRECISION = timedelta(minutes=1)


@transaction.atomic
def create_merchant(*, name: str, slug: str, actor: Any = None, **fields: Any) -> Merchant:
    """A new tenant with the default roles (B1) ready to be given to its staff."""
    merchant = Merchant(name=name, slug=slug, **fields)
    _attribute(merchant, actor)
    merchant.full_clean()
    merchant.save()
    sync_default_roles(merchant=merchant)
    return merchant


@transaction.atomic
def sync_default_roles(*, merchant: Merchant) -> list[Role]:
    """Create the merchant's default roles, or bring them up to this release's grants: a permission the
    release adds is granted, one it no longer grants is taken back, and what the merchant's admins
    changed in a default role themselves stays changed. Custom roles are left as they are. A default
    role from before this bookkeeping (`granted_by_default` empty) gets what it lacks, nothing taken."""
    roles = []
    for key, spec in default_roles().items():
        role = Role.objects.filter(merchant=merchant, key=key).select_related("group").first()
        granted = permissions_for(spec.permissions)
        names = sorted(_name(p) for p in granted)
        if role is None:
            group = Group.objects.create(name=f"{merchant.slug}:{key}")
            with translation.override(merchant.default_language):
                name = str(spec.name)
            role = Role.objects.create(
                merchant=merchant, group=group, key=key, name=name, granted_by_default=names
            )
            role.group.permissions.set(granted)
        elif role.granted_by_default != names:
            before = set(role.granted_by_default)
            role.group.permissions.add(*(p for p in granted if _name(p) not in before))
            dropped = before - set(names)
            held = role.group.permissions.select_related("content_type")
            role.group.permissions.remove(*(p for p in held if _name(p) in dropped))
            role.granted_by_default = names
            role.save(update_fields=["granted_by_default"])
        roles.append(role)
    return roles


def refresh_default_roles(*, using: str = "default") -> int:
    """Every merchant's default roles brought up to this release (after `migrate`); how many merchants."""
    merchants = list(Merchant.objects.using(using).all())
    for merchant in merchants:
        sync_default_roles(merchant=merchant)
    return len(merchants)


def _name(permission: Permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


@transaction.atomic
def create_role(*, merchant: Merchant, name: str, permission_ids: list[int], actor: Any = None) -> Role:
    """A merchant's own role (B1); a user may grant only permissions they hold themselves."""
    authorise(actor, None, merchant=merchant)
    permissions = _permissions_to_set(current=set(), requested=permission_ids, actor=actor)
    group = Group.objects.create(name=f"{merchant.slug}:{secrets.token_hex(4)}")
    group.permissions.set(permissions)
    role = Role(merchant=merchant, group=group, name=name)
    _attribute(role, actor)
    role.full_clean()
    role.save()
    return role


@transaction.atomic
def create_store(*, merchant: Merchant, code: str, name: str, actor: Any = None, **fields: Any) -> Store:
    store = Store(merchant=merchant, code=code, name=name, **fields)
    _attribute(store, actor)
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
    """A back-office user of `merchant`: in every store when `stores` is None, else only in those (B2).

    Never a superuser: operators are created by operators with `createsuperuser`.
    """
    _check_scope(merchant=merchant, roles=roles, stores=stores, actor=actor)
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
    *,
    merchant: Merchant,
    name: str,
    store: Store | None = None,
    scope: Scope | None = None,
    actor: Any = None,
) -> IssuedApiKey:
    """Without a `scope`, a store-bound key is a till's (`pos`), a merchant-wide one an integration's:
    the rule that gave today's keys their scope."""
    if store is not None and store.merchant_id != merchant.pk:
        raise ValidationFailed(_("The store belongs to another merchant."), code="cross_merchant")
    if scope is None:
        scope = Scope.POS if store is not None else Scope.INTEGRATION
    if scope in MERCHANT_WIDE_SCOPES and store is not None:
        raise ValidationFailed(
            _("An administration key acts for the whole merchant: leave the store empty."),
            code="admin_key_store_bound",
        )
    prefix, secret = _new_secret()
    key = ApiKey(
        merchant=merchant, store=store, scope=scope, name=name, prefix=prefix, hashed_secret=_hash(secret)
    )
    key.stamp(actor)
    key.save()
    return IssuedApiKey(key=key, raw_key=f"{API_KEY_PREFIX}_{prefix}_{secret}")


def _new_secret() -> tuple[str, str]:
    return secrets.token_hex(6), secrets.token_urlsafe(32)


def revoke_api_key(*, key: ApiKey | OperatorKey, actor: Any = None) -> ApiKey | OperatorKey:
    """From now on the key gets 401: every request asks the database whether its key is still good."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.stamp(actor)
        key.save(update_fields=["revoked_at", "updated_by", "updated_at"])
    return key


@dataclass(frozen=True)
class IssuedOperatorKey:
    key: OperatorKey
    raw_key: str  # shown once, never stored


@transaction.atomic
def create_operator_key(*, name: str, actor: Any = None) -> IssuedOperatorKey:
    """The platform's key (issue 17), made by `tessera create_operator_key`: merchants, stores, keys."""
    prefix, secret = _new_secret()
    key = OperatorKey(name=name, prefix=prefix, hashed_secret=_hash(secret))
    key.stamp(actor)
    key.full_clean()
    key.save()
    return IssuedOperatorKey(key=key, raw_key=f"{OPERATOR_KEY_PREFIX}_{prefix}_{secret}")


#: A key seen for the first time, or after its merchant's configuration changed, is read whole with its
#: merchant and store: compiled once (core.prepared).
_key_by_prefix = Prepared(
    lambda prefix: (
        ApiKey.objects.select_related("merchant", "store")
        .filter(prefix=prefix, revoked_at__isnull=True, merchant__is_active=True)
        .order_by()[:1]
    ),
    prefix=str,
)


class _KnownKey:
    """A key as this process last read it: the columns of the key, its merchant and its store, at the
    merchant's `config_version` (issue 13 item 4: per-merchant configuration from memory). Its
    `last_used_at` is this process's last note of a use (another process may have noted a later one)."""

    def __init__(self, key: ApiKey) -> None:
        self.version = key.merchant.config_version
        self.rows = (_columns(key), _columns(key.merchant), _columns(key.store) if key.store else None)

    def instances(self, using: str) -> ApiKey:
        """New instances for one request (a request may change what it was given; the next must not
        see it)."""
        key_row, merchant_row, store_row = self.rows
        key = restored(ApiKey, key_row, using)
        merchant = restored(Merchant, merchant_row, using)
        store = restored(Store, store_row, using) if store_row is not None else None
        key._state.fields_cache.update(merchant=merchant, store=store)  # as select_related leaves them
        return key


def _columns(obj: Any) -> dict[str, Any]:
    return {name: value for name, value in vars(obj).items() if name != "_state"}


#: Keys read by this process, by prefix; at most KNOWN_KEYS, oldest out first.
_known_keys: dict[str, _KnownKey] = {}
KNOWN_KEYS = 4096


_key_state_sqls: dict[str, str] = {}


def _key_state_sql(connection: Any) -> str:
    """Whether the key is still good (a row), its merchant's configuration version and whether its last
    use is older than LAST_USE_PRECISION."""
    sql = _key_state_sqls.get(connection.vendor)
    if sql is None:
        sql = _key_state_sqls[connection.vendor] = _build_key_state_sql(connection)
    return sql


def _build_key_state_sql(connection: Any) -> str:
    qn = connection.ops.quote_name
    keys, merchants, used = qn(ApiKey._meta.db_table), qn(Merchant._meta.db_table), qn("last_used_at")
    return (
        f"SELECT m.{qn('config_version')}, (k.{used} IS NULL OR k.{used} < %s) "  # noqa: S608  (names from the models)
        f"FROM {keys} k INNER JOIN {merchants} m ON m.{qn('id')} = k.{qn('merchant_id')} "
        f"WHERE k.{qn('prefix')} = %s AND k.{qn('revoked_at')} IS NULL AND m.{qn('is_active')}"
    )


def authenticate_api_key(*, raw_key: str, using: str = "default") -> ApiKey | None:
    """The key of `raw_key`, with its merchant and store; None for an unknown, revoked or wrong key, or
    one of an inactive merchant. One statement: a key this process has read before is checked by a
    short query (still good? its merchant's configuration version?) and taken from memory when the
    version is the same — a change to the key, its store or its merchant gives the merchant a new
    version (`tenancy.config`), a revocation refuses the key on the very next request, in every
    process; otherwise it is read whole."""
    parts = raw_key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    prefix, secret = parts[1], parts[2]
    known = _known_keys.get(prefix)
    if known is not None:
        connection = connections[using]
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                _key_state_sql(connection),
                [connection.ops.adapt_datetimefield_value(now - LAST_USE_PRECISION), prefix],
            )
            state = cursor.fetchone()
        if state is None:
            _known_keys.pop(prefix, None)  # pop: another thread of the process may have done it
            return None
        version, unused = state
        if version == known.version:
            key = known.instances(using)
            if not hmac.compare_digest(key.hashed_secret, _hash(secret)):
                return None
            if unused:
                _write_use(key, now=now, using=using)
                known.rows[0]["last_used_at"] = now
            return _with_store_merchant(key)
    found = _key_by_prefix(prefix=prefix, using=using)
    if not found or not hmac.compare_digest(found[0].hashed_secret, _hash(secret)):
        _known_keys.pop(prefix, None)
        return None
    key = found[0]
    _note_use(key, using=using)
    if len(_known_keys) >= KNOWN_KEYS:
        _known_keys.pop(next(iter(_known_keys), ""), None)
    _known_keys[prefix] = _KnownKey(key)
    return _with_store_merchant(key)


def _with_store_merchant(key: ApiKey) -> ApiKey:
    if key.store is not None:
        key.store.merchant = key.merchant  # one instance per request: the store's zone needs no query
    return key


def authenticate_operator_key(*, raw_key: str) -> OperatorKey | None:
    parts = raw_key.split("_", 2)
    if len(parts) != 3 or parts[0] != OPERATOR_KEY_PREFIX:
        return None
    key = OperatorKey.objects.filter(prefix=parts[1], revoked_at__isnull=True).first()
    if key is None or not hmac.compare_digest(key.hashed_secret, _hash(parts[2])):
        return None
    _note_use(key)
    return key


def _note_use(key: ApiKey | OperatorKey, *, using: str = "default") -> None:
    """Coarse on purpose: one write per `LAST_USE_PRECISION` per key, not one per request."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USE_PRECISION:
        _write_use(key, now=now, using=using)


def _write_use(key: ApiKey | OperatorKey, *, now: Any, using: str) -> None:
    type(key).objects.using(using).filter(pk=key.pk).update(last_used_at=now)
    key.last_used_at = now


# --- Back-office management (B1, B2): what a merchant admin does to its own merchant ------------------

#: Platform-level rights: only operators (superusers) create or delete merchants; no role may grant them.
PLATFORM_PERMISSIONS = frozenset({"tenancy.add_merchant", "tenancy.delete_merchant"})

#: What a merchant admin may change on its own merchant (A1); slug and `is_active` are the operator's.
MERCHANT_SETTINGS = (
    "name",
    "logo",
    "primary_color",
    "accent_color",
    "currency",
    "time_zone",
    "default_language",
    "country",
    "auto_activate_members",
    "require_two_factor_for_admins",
)


def _attribute(obj: Any, actor: Any) -> None:
    """Stamp the audit fields and name the actor in the history row, also outside a web request (B3)."""
    obj.stamp(actor)
    if is_user(actor):
        obj._history_user = actor


def _check_scope(*, merchant: Merchant, roles: list[Role], stores: list[Store] | None, actor: Any) -> None:
    """Roles and stores of the staff's own merchant only; a store-scoped actor hands out only its stores."""
    foreign = [r for r in roles if r.merchant_id != merchant.pk] + [
        s for s in stores or [] if s.merchant_id != merchant.pk
    ]
    if foreign:
        raise ValidationFailed(_("Roles and stores must belong to the same merchant."), code="cross_merchant")
    authorise(actor, None, merchant=merchant)
    staff = staff_of(actor) if is_user(actor) and not actor.is_superuser else None
    if (
        staff is not None
        and not staff.all_stores
        and (stores is None or any(s.pk not in staff.store_ids() for s in stores))
    ):
        raise PermissionDenied(_("You can only give access to the stores you work in."), code="store_scope")


def grantable_permissions(actor: Any = None) -> QuerySet[Permission]:
    """Permissions a role may carry: Tessera's own features, never history tables or platform rights.

    A user actor may grant only what they hold themselves, so no one can give a role more than they have.
    """
    labels = [c.label for c in apps.get_app_configs() if c.name.startswith("tessera.")]
    qs = (
        Permission.objects.filter(content_type__app_label__in=labels)
        .exclude(content_type__model__startswith="historical")
        .select_related("content_type")
    )
    for perm in PLATFORM_PERMISSIONS:
        app_label, codename = perm.split(".")
        qs = qs.exclude(content_type__app_label=app_label, codename=codename)
    if is_user(actor) and not actor.is_superuser:
        held = actor.get_all_permissions()
        allowed = [p.pk for p in qs if f"{p.content_type.app_label}.{p.codename}" in held]
        qs = qs.filter(pk__in=allowed)
    return qs


def _permissions_to_set(*, current: set[int], requested: list[int], actor: Any) -> set[int]:
    """Requested permissions within the actor's reach; those beyond it are kept as they were."""
    grantable = set(grantable_permissions(actor).values_list("pk", flat=True))
    beyond = set(requested) - grantable
    if beyond:
        raise PermissionDenied(
            _("You cannot grant permissions you do not have yourself."), code="permission_escalation"
        )
    return set(requested) | (current - grantable)


def _codenames(ids: set[int]) -> list[str]:
    perms = Permission.objects.filter(pk__in=ids).select_related("content_type")
    return sorted(f"{p.content_type.app_label}.{p.codename}" for p in perms)


@transaction.atomic
def update_merchant(*, merchant: Merchant, actor: Any = None, **fields: Any) -> Merchant:
    """Change a merchant's settings (A1). Operators may also change `slug` and `is_active`."""
    authorise(actor, None, merchant=merchant)
    allowed = set(MERCHANT_SETTINGS)
    if not is_user(actor) or actor.is_superuser:
        allowed |= {"slug", "is_active"}
    unknown = set(fields) - allowed
    if unknown:
        raise PermissionDenied(
            _("These settings cannot be changed here: %(fields)s") % {"fields": ", ".join(sorted(unknown))},
            code="field_not_editable",
        )
    for name, value in fields.items():
        setattr(merchant, name, value)
    _attribute(merchant, actor)
    merchant.full_clean()
    merchant.save()
    return merchant


@transaction.atomic
def update_store(*, store: Store, actor: Any = None, **fields: Any) -> Store:
    authorise(actor, None, merchant=store.merchant_id)
    for name in ("code", "name", "address", "time_zone", "is_active"):
        if name in fields:
            setattr(store, name, fields.pop(name))
    if fields:
        raise ValidationFailed(_("Unknown store fields."), code="unknown_fields", fields=sorted(fields))
    _attribute(store, actor)
    store.full_clean()
    store.save()
    return store


@transaction.atomic
def update_staff(
    *,
    staff: StaffMembership,
    roles: list[Role],
    stores: list[Store] | None,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    is_active: bool | None = None,
    password: str | None = None,
    actor: Any = None,
) -> StaffMembership:
    """Change a staff user's roles, stores (None: all of them) and details (B1, B2)."""
    _check_scope(merchant=staff.merchant, roles=roles, stores=stores, actor=actor)
    user = staff.user
    if user.is_superuser:
        raise PermissionDenied(_("Platform operators are managed by operators."), code="operator_account")
    if is_user(actor) and actor.pk == user.pk and is_active is False:
        raise ValidationFailed(_("You cannot deactivate yourself."), code="self_deactivation")
    for name, value in (("email", email), ("first_name", first_name), ("last_name", last_name)):
        if value is not None:
            setattr(user, name, value)
    if is_active is not None:
        user.is_active = is_active
    if password:
        user.set_password(password)
    user.save()
    # Groups of other merchants cannot be on this user (add_staff and this function check), so set() is safe.
    user.groups.set([r.group for r in roles])
    staff.all_stores = stores is None
    _attribute(staff, actor)
    staff.save()
    staff.stores.set(stores or [])
    staff.__dict__.pop("_store_ids", None)  # the cached store list is stale now
    return staff


@transaction.atomic
def deactivate_staff(*, staff: StaffMembership, actor: Any = None) -> StaffMembership:
    """The user can no longer log in; their name stays on every document they created (B3)."""
    authorise(actor, None, merchant=staff.merchant_id)
    if staff.user.is_superuser:
        raise PermissionDenied(_("Platform operators are managed by operators."), code="operator_account")
    if is_user(actor) and actor.pk == staff.user_id:
        raise ValidationFailed(_("You cannot deactivate yourself."), code="self_deactivation")
    staff.user.is_active = False
    staff.user.save(update_fields=["is_active"])
    staff.stamp(actor)
    staff.save()
    return staff


@transaction.atomic
def update_role(*, role: Role, name: str, permission_ids: list[int], actor: Any = None) -> Role:
    """Rename a role and set its permissions (B1); a user may grant only what they hold."""
    authorise(actor, None, merchant=role.merchant_id)
    current = set(role.group.permissions.values_list("pk", flat=True))
    wanted = _permissions_to_set(current=current, requested=permission_ids, actor=actor)
    role.group.permissions.set(wanted)
    # The group's permissions are not on the role's row; the history row says what changed (B3).
    changes = [f"+{p}" for p in _codenames(wanted - current)] + [
        f"-{p}" for p in _codenames(current - wanted)
    ]
    role._change_reason = " ".join(changes)[:100] or None  # type: ignore[attr-defined]
    role.name = name
    _attribute(role, actor)
    role.full_clean()
    role.save()
    return role


@transaction.atomic
def delete_role(*, role: Role, actor: Any = None) -> None:
    """Custom roles can go; the default ones every merchant starts with stay (they may be edited)."""
    authorise(actor, None, merchant=role.merchant_id)
    if role.key:
        raise DomainError(_("Default roles can be edited but not deleted."), code="default_role")
    group = role.group
    role.delete()
    group.delete()
