"""Every write to members, tags, anniversaries and segments (C1–C3, C5, C6). One transaction each.

`actor` is a user or None (the system, e.g. the API with its key). When it is a user, the service checks
the user's Django permission and that the user works for the member's merchant; the UI's hiding of a
button is a convenience, this is the rule.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Field
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext_lazy as _
from pydantic import ValidationError as PydanticValidationError
from simple_history.utils import bulk_update_with_history
from unidecode import unidecode

from tessera.core import bulk, events
from tessera.core.errors import Conflict, DomainError, ValidationFailed
from tessera.members import signals
from tessera.members.models import Anniversary, Member, MemberStatus, Segment, Tag
from tessera.members.schemas import SegmentFilters
from tessera.tenancy.models import Merchant, Store
from tessera.tenancy.permissions import authorise

#: What `register_member` and `update_member_profile` accept besides the phone.
PROFILE_FIELDS = frozenset(
    {
        "full_name",
        "email",
        "address",
        "region",
        "birthday",
        "gender",
        "occupation",
        "id_number",
        "hobbies",
        "preferences",
        "notes",
        "home_store",
        "marketing_sms",
        "marketing_email",
        "tags",
    }
)
#: Personal data removed by `erase_member` (C5), on the row and on every history row of it.
PERSONAL_TEXT_FIELDS = (
    "full_name",
    "email",
    "address",
    "region",
    "occupation",
    "id_number",
    "hobbies",
    "preferences",
    "notes",
    "gender",
    "status_reason",
)
PIN_PATTERN = re.compile(r"^\d{4,6}$")
PIN_HASH_PREFIX = "hmac-sha256$"


# --- helpers ------------------------------------------------------------------------------------------


def normalise_phone(raw: str, *, merchant: Merchant) -> str:
    """The phone in E.164. A local number ("0903 123 456") is read as one of the merchant's country."""
    text = str(raw or "").strip()
    e164 = _e164(text, (merchant.country or "VN").upper()) if text else None
    if e164 is None:
        raise ValidationFailed(
            _("“%(phone)s” is not a valid phone number.") % {"phone": raw}, code="invalid_phone", phone=raw
        )
    return e164


@lru_cache(maxsize=4096)
def _e164(text: str, region: str) -> str | None:
    """`text` in E.164, or None when it is not a valid number: remembered, since parsing and validating
    a number costs a till's lookup a tenth of its CPU (issue 13)."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def build_search_text(*, full_name: str, phone: str | None, email: str) -> str:
    """What `search_members` matches: the name as typed and without diacritics, phone digits, email.

    The name is kept as typed too, so Chinese names are found by their characters ("小明"), while
    "nguyen van an" finds "Nguyễn Văn An". The phone is there in international and national digits.
    Each word is preceded by a space, so a search can match the start of words.
    """
    words: list[str] = []
    name = " ".join(full_name.split()).lower()
    if name:
        words.append(name)
        plain = " ".join(unidecode(name).split()).lower()
        if plain != name:
            words.append(plain)
    if phone:
        words.append(str(phone).lstrip("+"))
        words.append(_national_digits(str(phone)))
    if email:
        words.append(email.lower())
    return f" {' '.join(words)}" if words else ""


def _national_digits(e164: str) -> str:
    """The digits of the number as written at home (`0912345678` for `+84912345678`).

    The national format adds at most a prefix to the number's own digits, chosen by the number's
    leading digits and length: numbers sharing their first seven digits and their length share it,
    so an import of a million members formats one number in a hundred (issue 16)."""
    code = next(
        (e164[1:n] for n in (2, 3, 4) if int(e164[1:n] or 0) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE), ""
    )
    national = e164[1 + len(code) :]
    if len(national) >= 9 and not national.startswith("0"):
        prefix = _national_prefix(code, national[:7], len(national))
        if prefix is not None:
            return prefix + national
    return _formatted_national_digits(e164)


@lru_cache(maxsize=100_000)
def _national_prefix(code: str, leading: str, length: int) -> str | None:
    sample = f"+{code}{leading}{'5' * (length - len(leading))}"
    digits = _formatted_national_digits(sample)
    return digits[:-length] if digits.endswith(sample[-length:]) else None


def _formatted_national_digits(e164: str) -> str:
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return ""
    return re.sub(r"\D", "", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))


def _refresh_search_text(member: Member) -> None:
    member.search_text = build_search_text(
        full_name=member.full_name, phone=str(member.phone) if member.phone else None, email=member.email
    )


def _phone_taken(*, merchant: Merchant | int, phone: str, exclude_pk: int | None = None) -> bool:
    qs = Member.objects.of(merchant).filter(phone=phone, superseded_by__isnull=True, erased_at__isnull=True)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


def _phone_taken_error(phone: str) -> Conflict:
    return Conflict(
        _("Another member already has the phone %(phone)s.") % {"phone": phone},
        code="phone_taken",
        phone=phone,
    )


def _resolve_tags(*, merchant: Merchant | int, tags: Iterable[Tag | str], actor: Any) -> list[Tag]:
    """Tags of this merchant; a name that is not a tag yet becomes one."""
    merchant_id = merchant if isinstance(merchant, int) else merchant.pk
    resolved: list[Tag] = []
    for tag in tags:
        if isinstance(tag, Tag):
            if tag.merchant_id != merchant_id:
                raise ValidationFailed(_("The tag belongs to another merchant."), code="cross_merchant")
            resolved.append(tag)
            continue
        name = str(tag).strip()
        if not name:
            continue
        found = Tag.objects.of(merchant_id).filter(name__iexact=name).first()
        resolved.append(found or save_tag(merchant=merchant, name=name, actor=actor))
    return resolved


def _apply_profile(member: Member, fields: dict[str, Any]) -> list[Tag] | None:
    """Set profile fields on the unsaved member; returns the tags to set after saving (None: unchanged)."""
    unknown = set(fields) - PROFILE_FIELDS
    if unknown:
        raise ValidationFailed(
            _("These fields cannot be set here: %(fields)s.") % {"fields": ", ".join(sorted(unknown))},
            code="unknown_field",
            fields=sorted(unknown),
        )
    tags = fields.pop("tags", None)
    store = fields.get("home_store")
    if isinstance(store, Store) and store.merchant_id != member.merchant_id:
        raise ValidationFailed(_("The store belongs to another merchant."), code="cross_merchant")
    for name, value in fields.items():
        field = Member._meta.get_field(name)
        if value is None and isinstance(field, Field) and not field.null:
            # Text fields are blank, never NULL; a JSON null means "clear it".
            value = field.get_default()
        setattr(member, name, value)
    return list(tags) if tags is not None else None


def _validate(member: Member) -> None:
    try:
        # Uniqueness is checked (and raced) separately, with its own error code.
        member.full_clean(exclude=["phone", "merchant"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise ValidationFailed(
            _("The member's details are not valid."), code="invalid_profile", errors=exc.message_dict
        ) from None


def _save_new_member(member: Member, phone: str) -> None:
    try:
        with transaction.atomic():
            member.save()
    except IntegrityError:
        # Two registrations of one phone at once: the database constraint decides (C3).
        raise _phone_taken_error(phone) from None


def _check_current(member: Member) -> None:
    if member.erased_at is not None:
        raise DomainError(_("This member's data has been erased."), code="member_erased")
    if member.superseded_by_id is not None:
        raise DomainError(
            _("This account was replaced after a phone change; use the new account."),
            code="member_superseded",
        )


def _lock(member: Member) -> Member:
    """The member row, locked for the rest of the transaction, so two status changes cannot interleave."""
    return Member.objects.select_for_update().get(pk=member.pk)


def _copy_state(target: Member, source: Member) -> Member:
    """Refresh the caller's instance with what was saved, so it never holds stale data."""
    for field in Member._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    getattr(target, "_prefetched_objects_cache", {}).clear()
    return target


# --- members ------------------------------------------------------------------------------------------


@transaction.atomic
def register_member(
    *,
    merchant: Merchant,
    phone: str,
    actor: Any = None,
    store: Store | None = None,
    referral_code: str = "",
    **profile: Any,
) -> Member:
    """A new member of `merchant` identified by `phone` (C1); active at once if the merchant says so (C2).
    `referral_code`: the code of the member who brought them in (issue 15 §5), kept for good."""
    authorise(actor, "members.add_member", merchant=merchant)
    e164 = normalise_phone(phone, merchant=merchant)
    if _phone_taken(merchant=merchant, phone=e164):
        raise _phone_taken_error(e164)
    if store is not None and store.merchant_id != merchant.pk:
        raise ValidationFailed(_("The store belongs to another merchant."), code="cross_merchant")
    member = Member(merchant=merchant, phone=e164)
    if referral_code.strip():
        member.referred_by = _referrer(merchant, referral_code)
    profile.setdefault("home_store", store)
    tags = _apply_profile(member, dict(profile))
    if merchant.auto_activate_members:
        member.status = MemberStatus.ACTIVE
        member.status_changed_at = timezone.now()
    else:
        member.status = MemberStatus.NOT_ACTIVATED
    _refresh_search_text(member)
    _validate(member)
    member.stamp(actor)
    _save_new_member(member, e164)
    if tags:
        member.tags.set(_resolve_tags(merchant=merchant, tags=tags, actor=actor))
    events.publish(merchant_id=merchant.pk, type="member.created", payload={"member_id": member.pk})
    signals.member_registered.send(sender=Member, member=member, now=timezone.now())
    return member


@transaction.atomic
def update_member_profile(*, member: Member, actor: Any = None, **fields: Any) -> Member:
    """Change profile details. The phone is the identity and changes only through `change_phone` (C3)."""
    authorise(actor, "members.change_member", merchant=member.merchant_id)
    if "phone" in fields:
        raise ValidationFailed(
            _("The phone cannot be edited; use “change phone”, which opens a new account."),
            code="phone_not_changeable",
        )
    locked = _lock(member)
    if locked.erased_at is not None:
        raise DomainError(_("This member's data has been erased."), code="member_erased")
    tags = _apply_profile(locked, dict(fields))
    _refresh_search_text(locked)
    _validate(locked)
    locked.stamp(actor)
    locked.save()
    if tags is not None:
        locked.tags.set(_resolve_tags(merchant=locked.merchant_id, tags=tags, actor=actor))
    events.publish(merchant_id=locked.merchant_id, type="member.updated", payload={"member_id": locked.pk})
    signals.member_profile_changed.send(sender=Member, member=locked, now=timezone.now())
    return _copy_state(member, locked)


# --- referral codes (issue 15 §5) ---------------------------------------------------------------------

#: No 0/O, 1/I/L: a code read aloud or copied from a screen is typed right.
REFERRAL_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
#: 30^7 ≈ 2·10^10 codes per merchant: short enough to say, too many to find one by guessing a few.
REFERRAL_CODE_LENGTH = 7


def normalise_referral_code(raw: str) -> str:
    """What people type (spaces, dashes, lower case) as the stored code."""
    return re.sub(r"[\s-]", "", raw).upper()


def _referrer(merchant: Merchant, raw: str) -> Member:
    code = normalise_referral_code(raw)
    referrer = (
        Member.objects.of(merchant)
        .filter(referral_code=code, superseded_by__isnull=True, erased_at__isnull=True)
        .exclude(status=MemberStatus.EXCLUDED)
        .first()
        if code
        else None
    )
    if referrer is None:
        raise ValidationFailed(
            _("No member has this referral code."), code="referral_code_not_found", referral_code=raw[:20]
        )
    return referrer


def referral_code_of(member: Member) -> str:
    """The member's referral code, given now if they have none yet (unique per merchant: a clash with a
    code given at the same moment is retried with another)."""
    if member.referral_code:
        return member.referral_code
    for _attempt in range(5):
        code = "".join(secrets.choice(REFERRAL_ALPHABET) for _position in range(REFERRAL_CODE_LENGTH))
        try:
            with transaction.atomic():
                taken = Member.objects.filter(pk=member.pk, referral_code="").update(referral_code=code)
        except IntegrityError:
            continue  # another member has it
        member.referral_code = (
            code if taken else Member.objects.values_list("referral_code", flat=True).get(pk=member.pk)
        )
        return member.referral_code
    raise RuntimeError("no free referral code after 5 tries")


def _set_status(member: Member, status: MemberStatus, *, reason: str, actor: Any) -> None:
    member.status = status
    member.status_reason = reason
    member.status_changed_at = timezone.now()
    member.stamp(actor)
    member.save(update_fields=["status", "status_reason", "status_changed_at", "updated_by", "updated_at"])


@transaction.atomic
def activate_member(*, member: Member, actor: Any = None) -> Member:
    """Not activated → active (C2). An excluded member comes back only through `reactivate_member`."""
    authorise(actor, "members.activate_member", merchant=member.merchant_id)
    locked = _lock(member)
    _check_current(locked)
    if locked.status == MemberStatus.EXCLUDED:
        raise DomainError(
            _("This member is excluded; only re-activation can bring them back."), code="member_excluded"
        )
    if locked.status != MemberStatus.NOT_ACTIVATED:
        raise DomainError(_("This member is already active."), code="invalid_transition")
    _set_status(locked, MemberStatus.ACTIVE, reason="", actor=actor)
    return _copy_state(member, locked)


@transaction.atomic
def exclude_member(*, member: Member, reason: str, actor: Any = None) -> Member:
    """Active or not activated → excluded (C2): no earning, spending or tier perks until re-activated."""
    authorise(actor, "members.exclude_member", merchant=member.merchant_id)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why the member is excluded."), code="reason_required")
    locked = _lock(member)
    _check_current(locked)
    if locked.status == MemberStatus.EXCLUDED:
        raise DomainError(_("This member is already excluded."), code="invalid_transition")
    _set_status(locked, MemberStatus.EXCLUDED, reason=reason[:300], actor=actor)
    return _copy_state(member, locked)


@transaction.atomic
def reactivate_member(*, member: Member, actor: Any = None) -> Member:
    """Excluded → active (C2)."""
    authorise(actor, "members.reactivate_member", merchant=member.merchant_id)
    locked = _lock(member)
    _check_current(locked)
    if locked.status != MemberStatus.EXCLUDED:
        raise DomainError(_("Only an excluded member can be re-activated."), code="invalid_transition")
    _set_status(locked, MemberStatus.ACTIVE, reason="", actor=actor)
    return _copy_state(member, locked)


@transaction.atomic
def change_phone(*, member: Member, new_phone: str, actor: Any = None) -> Member:
    """C3: a new phone is a new loyalty account with the same profile and no points or tier.

    The old account stays, with its history and balances, pointing at the new one (`superseded_by`);
    moving points or tier over is an adjustment voucher's job (F2), never this function's.
    """
    authorise(actor, "members.change_member_phone", merchant=member.merchant_id)
    old = _lock(member)
    _check_current(old)
    merchant = old.merchant
    e164 = normalise_phone(new_phone, merchant=merchant)
    if old.phone and str(old.phone) == e164:
        raise ValidationFailed(_("The new phone is the member's current phone."), code="same_phone")
    if _phone_taken(merchant=merchant, phone=e164):
        raise _phone_taken_error(e164)
    new = Member(merchant=merchant, phone=e164, pin_hash=old.pin_hash)
    for name in PROFILE_FIELDS - {"tags"}:
        setattr(new, name, getattr(old, name))
    if merchant.auto_activate_members:
        new.status = MemberStatus.ACTIVE
        new.status_changed_at = timezone.now()
    else:
        new.status = MemberStatus.NOT_ACTIVATED
    _refresh_search_text(new)
    new.stamp(actor)
    _save_new_member(new, e164)
    new.tags.set(old.tags.all())
    Anniversary.objects.bulk_create(
        [
            Anniversary(merchant=merchant, member=new, label=a.label, date=a.date, created_by=a.created_by)
            for a in old.anniversaries.all()
        ]
    )
    old.superseded_by = new
    old.stamp(actor)
    old.save(update_fields=["superseded_by", "updated_by", "updated_at"])
    _copy_state(member, old)
    events.publish(
        merchant_id=merchant.pk, type="member.created", payload={"member_id": new.pk, "replaces": old.pk}
    )
    return new


@transaction.atomic
def erase_member(*, member: Member, actor: Any = None) -> Member:
    """C5: remove the person, keep the row. Ledger entries still point at it, so the books still add up.

    The history rows (simple-history keeps a full copy per change) are scrubbed too, as are the
    accounts this one replaced after phone changes: they hold the same person's data.
    """
    authorise(actor, "members.delete_member", merchant=member.merchant_id)
    locked = _lock(member)
    if locked.erased_at is not None:
        raise DomainError(_("This member's data has already been erased."), code="member_erased")
    chain = [locked]
    previous = list(Member.objects.select_for_update().filter(superseded_by=locked))
    while previous:
        chain.extend(previous)
        previous = list(Member.objects.select_for_update().filter(superseded_by__in=previous))
    now = timezone.now()
    blank: dict[str, Any] = dict.fromkeys(PERSONAL_TEXT_FIELDS, "")
    blank.update(phone=None, birthday=None, marketing_sms=False, marketing_email=False)
    for row in chain:
        for name, value in blank.items():
            setattr(row, name, value)
        row.pin_hash = ""
        row.search_text = ""
        row.erased_at = row.erased_at or now
        if row.status != MemberStatus.EXCLUDED:
            row.status_changed_at = now
        row.status = MemberStatus.EXCLUDED
        row.stamp(actor)
        row.save()
        row.tags.clear()
        row.anniversaries.all().delete()
    ids = [row.pk for row in chain]
    Member.history.filter(id__in=ids).update(**blank)
    return _copy_state(member, locked)


@transaction.atomic
def set_member_pin(*, member: Member, pin: str, actor: Any = None) -> Member:
    """Store the member's 4–6 digit PIN, hashed, for confirming sales (E9)."""
    authorise(actor, "members.change_member", merchant=member.merchant_id)
    if not PIN_PATTERN.match(str(pin or "")):
        raise ValidationFailed(_("The PIN must be 4 to 6 digits."), code="invalid_pin")
    locked = _lock(member)
    _check_current(locked)
    locked.pin_hash = hash_pin(pin)
    locked.stamp(actor)
    locked.save(update_fields=["pin_hash", "updated_by", "updated_at"])
    return _copy_state(member, locked)


def check_member_pin(*, member: Member, pin: str) -> bool:
    """True when `pin` is the member's PIN. Counting failed attempts is the caller's job."""
    if not member.pin_hash.startswith(PIN_HASH_PREFIX) or not PIN_PATTERN.match(str(pin or "")):
        return False
    salt, digest = member.pin_hash[len(PIN_HASH_PREFIX) :].split("$", 1)
    return constant_time_compare(_pin_digest(pin, salt), digest)


def hash_pin(pin: str) -> str:
    """The stored form of a PIN: `hmac-sha256$<salt>$<hex digest>`."""
    salt = secrets.token_hex(8)
    return f"{PIN_HASH_PREFIX}{salt}${_pin_digest(pin, salt)}"


def _pin_digest(pin: str, salt: str) -> str:
    """A keyed hash, not a slow one: a 4–6 digit PIN has at most a million values, so stretching would
    only tax every sale at the till (PBKDF2 took 0.45 s of CPU per confirmation). Online guessing is
    stopped by the attempt lockout; offline guessing from a stolen database needs the SECRET_KEY."""
    return salted_hmac(f"tessera.members.pin.{salt}", pin, algorithm="sha256").hexdigest()


def ensure_can_transact(member: Member) -> None:
    """C2: only an active, current account earns, spends or uses tier perks."""
    if member.status != MemberStatus.ACTIVE or not member.is_current:
        raise DomainError(
            _("This member cannot earn or spend: the account is not active."),
            code="member_not_active",
            status=member.status,
        )


#: The columns a SELECT given to `register_members_from` yields: the phone and the importable profile.
IMPORT_COLUMNS = (
    "phone",
    "full_name",
    "email",
    "address",
    "region",
    "birthday",
    "gender",
    "occupation",
    "id_number",
    "notes",
    "home_store_id",
    "marketing_sms",
    "marketing_email",
    "search_text",
)


def register_members_from(
    *, merchant: Merchant, rows: str, params: Sequence[Any] = (), actor: Any = None, reason: str = ""
) -> list[tuple[int, str]]:
    """Register many new members at once (C4 imports), set-based (issue 16): `rows` is a SELECT (with
    `params`) of the `IMPORT_COLUMNS` of new members — an E.164 phone, profile fields checked by the
    caller, the search text of `build_search_text`. Two statements whatever the number of rows: the
    members (status as `register_member` gives it) and their history rows (change reason `reason`).
    The unique constraint on phones decides clashes: one clash fails the call. Returns the (id,
    phone) of each new member. No `member.created` event per member: the caller announces the import
    once."""
    authorise(actor, "members.add_member", merchant=merchant)
    user = actor if getattr(actor, "is_authenticated", False) else None
    user_id = bulk.Param(user.pk if user is not None else None)
    now = timezone.now()
    active = merchant.auto_activate_members
    status = MemberStatus.ACTIVE if active else MemberStatus.NOT_ACTIVATED
    history = Member.history.model
    own = {f.column for f in Member._meta.concrete_fields}
    copied = {
        f.column: f"m.{connection.ops.quote_name(f.column)}"
        for f in history._meta.concrete_fields
        if f.column in own
    }
    try:
        with transaction.atomic():
            created = bulk.returning(
                *bulk.insert_select(
                    Member,
                    {
                        **{column: f"r.{column}" for column in IMPORT_COLUMNS},
                        "merchant_id": bulk.Param(merchant.pk),
                        "status": bulk.Param(status.value),
                        "status_changed_at": bulk.Param(now if active else None),
                        "created_at": bulk.Param(now),
                        "updated_at": bulk.Param(now),
                        "created_by_id": user_id,
                        "updated_by_id": user_id,
                    },
                    f"FROM ({rows}) r",
                    params,
                ),
                "id, phone",
            )
            if created:
                ids, id_param = bulk.id_list().of([pk for pk, _phone in created])
                bulk.execute(
                    *bulk.insert_select(
                        history,
                        {
                            **copied,
                            "history_date": bulk.Param(now),
                            "history_change_reason": bulk.Param(reason or None),
                            "history_type": bulk.Param("+"),
                            "history_user_id": user_id,
                        },
                        f"FROM members_member m WHERE m.id {ids} ORDER BY m.id",
                        [id_param],
                    )
                )
    except IntegrityError:
        raise Conflict(_("Another member already has one of these phones."), code="phone_taken") from None
    return [(int(pk), str(phone)) for pk, phone in created]


def tag_members_from(*, rows: str, params: Sequence[Any] = ()) -> int:
    """Add tags to members in one statement: `rows` is a SELECT (with `params`) of `member_id`,
    `tag_id` pairs, each member's tag its merchant's own (the caller's check); a tag the member
    already has, or one deleted meanwhile, is left out."""
    return bulk.execute(
        f"""INSERT INTO members_member_tags (member_id, tag_id)
            SELECT r.member_id, r.tag_id FROM ({rows}) r JOIN members_tag t ON t.id = r.tag_id
            WHERE NOT EXISTS (SELECT 1 FROM members_member_tags x
                              WHERE x.member_id = r.member_id AND x.tag_id = r.tag_id)""",  # noqa: S608
        params,
    )


def bulk_update_member_profiles(
    *,
    members: Sequence[Member],
    fields: Sequence[str],
    tag_ids: Sequence[Sequence[int]] | None = None,
    actor: Any = None,
    reason: str = "",
) -> int:
    """Save profile `fields` already set on many current members (C4 imports) and add tags, with one
    history row each. The phone is not a profile field here either (C3)."""
    unknown = set(fields) - (PROFILE_FIELDS - {"tags"})
    if unknown:
        raise ValidationFailed(
            _("These fields cannot be set here: %(fields)s.") % {"fields": ", ".join(sorted(unknown))},
            code="unknown_field",
            fields=sorted(unknown),
        )
    if not members:
        return 0
    merchant_ids = {member.merchant_id for member in members}
    for merchant_id in merchant_ids:
        authorise(actor, "members.change_member", merchant=merchant_id)
    user = actor if getattr(actor, "is_authenticated", False) else None
    now = timezone.now()
    for member in members:
        _check_current(member)
        _refresh_search_text(member)
        member.updated_by = user
        member.updated_at = now  # bulk_update does not apply auto_now
    with transaction.atomic():
        bulk_update_with_history(
            list(members),
            Member,
            [*fields, "search_text", "updated_by", "updated_at"],
            default_user=user,
            default_change_reason=reason or None,
        )
        if tag_ids:
            Member.tags.through.objects.bulk_create(
                (
                    Member.tags.through(member_id=member.pk, tag_id=tag_id)
                    for member, ids in zip(members, tag_ids, strict=True)
                    for tag_id in ids
                ),
                ignore_conflicts=True,
            )
    return len(members)


# --- anniversaries, tags, segments -------------------------------------------------------------------


@transaction.atomic
def save_anniversary(*, anniversary: Anniversary, actor: Any = None) -> Anniversary:
    """Add or change a date the member wants remembered; it belongs to the member's merchant."""
    member = anniversary.member
    authorise(
        actor,
        "members.add_anniversary" if anniversary._state.adding else "members.change_anniversary",
        merchant=member.merchant_id,
    )
    if member.erased_at is not None:
        raise DomainError(_("This member's data has been erased."), code="member_erased")
    anniversary.merchant_id = member.merchant_id
    anniversary.stamp(actor)
    try:
        anniversary.full_clean(exclude=["merchant", "member"])
    except ValidationError as exc:
        raise ValidationFailed(
            _("The anniversary is not valid."), code="invalid_anniversary", errors=exc.message_dict
        ) from None
    anniversary.save()
    return anniversary


@transaction.atomic
def delete_anniversary(*, anniversary: Anniversary, actor: Any = None) -> None:
    authorise(actor, "members.delete_anniversary", merchant=anniversary.merchant_id)
    anniversary.delete()


@transaction.atomic
def save_tag(*, merchant: Merchant | int, name: str, tag: Tag | None = None, actor: Any = None) -> Tag:
    """Create a tag, or rename `tag`. Names are unique per merchant, whatever their case."""
    merchant_id = merchant if isinstance(merchant, int) else merchant.pk
    authorise(actor, "members.change_tag" if tag else "members.add_tag", merchant=merchant_id)
    name = " ".join((name or "").split())
    if not name or len(name) > 60:
        raise ValidationFailed(_("A tag needs a name of at most 60 characters."), code="invalid_tag")
    clash = Tag.objects.of(merchant_id).filter(name__iexact=name)
    if tag is not None:
        clash = clash.exclude(pk=tag.pk)
    if clash.exists():
        raise Conflict(_("There is already a tag “%(name)s”.") % {"name": name}, code="tag_taken")
    tag = tag or Tag(merchant_id=merchant_id)
    tag.name = name
    tag.stamp(actor)
    tag.save()
    return tag


def validate_segment_filters(
    *, merchant: Merchant | int, filters: SegmentFilters | dict[str, Any]
) -> SegmentFilters:
    """The filters as a SegmentFilters, with stores and tags checked to be the merchant's own (C6)."""
    merchant_id = merchant if isinstance(merchant, int) else merchant.pk
    if not isinstance(filters, SegmentFilters):
        try:
            filters = SegmentFilters.model_validate(filters)
        except PydanticValidationError as exc:
            raise ValidationFailed(
                _("The segment's filters are not valid."),
                code="invalid_segment",
                errors=[
                    {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
                ],
            ) from None
    wrong: list[dict[str, str]] = []
    if filters.home_stores:
        own = set(
            Store.objects.of(merchant_id).filter(pk__in=filters.home_stores).values_list("pk", flat=True)
        )
        if own != set(filters.home_stores):
            wrong.append({"field": "home_stores", "message": str(_("Unknown store."))})
    if filters.tags:
        own = set(Tag.objects.of(merchant_id).filter(pk__in=filters.tags).values_list("pk", flat=True))
        if own != set(filters.tags):
            wrong.append({"field": "tags", "message": str(_("Unknown tag."))})
    if wrong:
        raise ValidationFailed(
            _("The segment's filters are not valid."), code="invalid_segment", errors=wrong
        )
    return filters


@transaction.atomic
def save_segment(
    *,
    merchant: Merchant | int,
    name: str,
    filters: SegmentFilters | dict[str, Any],
    description: str = "",
    segment: Segment | None = None,
    actor: Any = None,
) -> Segment:
    """Create a segment, or change `segment`. Invalid filters are refused with their reasons (C6)."""
    merchant_id = merchant if isinstance(merchant, int) else merchant.pk
    authorise(actor, "members.change_segment" if segment else "members.add_segment", merchant=merchant_id)
    if segment is not None and segment.merchant_id != merchant_id:
        raise ValidationFailed(_("The segment belongs to another merchant."), code="cross_merchant")
    checked = validate_segment_filters(merchant=merchant_id, filters=filters)
    name = " ".join((name or "").split())
    if not name:
        raise ValidationFailed(_("A segment needs a name."), code="invalid_segment")
    clash = Segment.objects.of(merchant_id).filter(name=name)
    if segment is not None:
        clash = clash.exclude(pk=segment.pk)
    if clash.exists():
        raise Conflict(_("There is already a segment “%(name)s”.") % {"name": name}, code="segment_taken")
    segment = segment or Segment(merchant_id=merchant_id)
    segment.name = name
    segment.description = description
    segment.filters = checked.model_dump(mode="json", exclude_defaults=True)
    segment.stamp(actor)
    segment.save()
    return segment
