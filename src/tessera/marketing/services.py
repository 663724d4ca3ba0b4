"""Every write of the marketing app (I1–I4). One transaction each, keyword-only arguments.

Queueing and consent. A campaign, a holiday greeting or a notice becomes `Message` rows: one per
recipient, built in chunks with `bulk_create` from a queryset iterator (100,000 in seconds), each either
`queued` or `skipped_*` with the reason. Nothing is sent here: `delivery.drain` sends queued rows at
the channel's rate. The consent rule (I4) is `_decide`: excluded, erased and superseded members get
nothing; marketing needs the member's consent flag for the channel; service notices go out when the
merchant switched them on.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.utils import formataddr
from itertools import chain
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.core import signing
from django.db import IntegrityError, connections, transaction
from django.db.models import CharField, Exists, F, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tessera.core import outbound
from tessera.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from tessera.core.formatting import format_money, format_points, points_group_separator
from tessera.core.limits import parse_id
from tessera.core.signing import is_valid_signature
from tessera.imports import fields, reading
from tessera.ledger.models import Account, AccountKind, ExpiryNotice
from tessera.marketing import rendering, selectors
from tessera.marketing.models import (
    AudienceKind,
    CalendarKind,
    Campaign,
    CampaignStatus,
    ChannelKind,
    ChannelSettings,
    Holiday,
    Message,
    MessageStatus,
    MessageTemplate,
    NoticeRule,
    SmsProvider,
    Trigger,
)
from tessera.members import services as members
from tessera.members.models import Member, MemberStatus, Segment
from tessera.tenancy.models import Merchant
from tessera.tenancy.permissions import authorise

#: Rows built and inserted per database round trip when queueing.
CHUNK = 2000
#: A receipt signed longer ago than this (or this far in the future) is refused: a captured request
#: cannot be replayed later. Replaying within the window changes nothing: receipts are idempotent.
RECEIPT_MAX_AGE = timedelta(minutes=5)
SIGNATURE_HEADER = "Tessera-Signature"
#: A campaign whose queueing has not progressed for this long was interrupted; the sweep resumes it.
STALE_QUEUEING = timedelta(minutes=10)
UNSUBSCRIBE_SALT = "tessera.marketing.unsubscribe"
#: Template language fields by language code.
LANGUAGE_FIELDS = {"vi": "vi", "zh-hans": "zh_hans", "en": "en"}
#: An uploaded list longer than this is refused (a campaign to a whole base uses a segment).
MAX_LIST_PHONES = 200_000
#: An uploaded list file larger than this is refused before it is read (200,000 phones fit in 4 MB).
MAX_LIST_FILE_BYTES = 20 * 2**20


class Rejected(DomainError):
    code = "invalid_signature"
    status = 401


# --- channel settings ---------------------------------------------------------------------------------


def new_receipt_secret() -> str:
    return f"dlrsec_{secrets.token_urlsafe(32)}"


def settings_for(merchant: Merchant | int) -> ChannelSettings:
    """The merchant's channel settings, created with safe defaults on first use."""
    merchant_id = merchant if isinstance(merchant, int) else merchant.pk
    row = ChannelSettings.objects.of(merchant_id).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return ChannelSettings.objects.create(
                merchant_id=merchant_id, receipt_secret=new_receipt_secret()
            )
    except IntegrityError:  # created meanwhile by another request
        return ChannelSettings.objects.of(merchant_id).get()


@transaction.atomic
def save_channel_settings(
    *, channel_settings: ChannelSettings, actor: Any = None, api_key: str | None = None
) -> ChannelSettings:
    """Save the settings; `api_key` replaces the provider key when given (empty keeps the old one)."""
    authorise(actor, "marketing.change_channelsettings", merchant=channel_settings.merchant_id)
    if api_key:
        channel_settings.sms_api_key = api_key.strip()
    if channel_settings.sms_provider == SmsProvider.HTTP:
        if not channel_settings.sms_api_url.startswith(("https://", "http://")):
            raise ValidationFailed(
                _("Enter the provider's API address (https://…)."), code="provider_url_required"
            )
        outbound.validate_url(channel_settings.sms_api_url)  # no loopback or private addresses
        if not channel_settings.sms_api_key:
            raise ValidationFailed(_("Enter the provider's API key."), code="provider_key_required")
    if not channel_settings.receipt_secret:
        channel_settings.receipt_secret = new_receipt_secret()
    channel_settings.stamp(actor)
    channel_settings.save()
    return channel_settings


@transaction.atomic
def rotate_receipt_secret(*, channel_settings: ChannelSettings, actor: Any = None) -> str:
    """A new signing secret for delivery receipts; the old one stops working at once."""
    authorise(actor, "marketing.change_channelsettings", merchant=channel_settings.merchant_id)
    channel_settings.receipt_secret = new_receipt_secret()
    channel_settings.stamp(actor)
    channel_settings.save(update_fields=["receipt_secret", "updated_by", "updated_at"])
    return channel_settings.receipt_secret


# --- templates ----------------------------------------------------------------------------------------


def check_template(template: MessageTemplate) -> None:
    """Refuse unknown variables and a template without any text, with a message that says which."""
    texts = [getattr(template, f"body_{suffix}") for suffix in LANGUAGE_FIELDS.values()]
    if template.channel == ChannelKind.EMAIL:
        texts += [getattr(template, f"subject_{suffix}") for suffix in LANGUAGE_FIELDS.values()]
    for text in texts:
        rendering.check_variables(text)
    if not any(getattr(template, f"body_{s}").strip() for s in LANGUAGE_FIELDS.values()):
        raise ValidationFailed(_("Write the text in at least one language."), code="template_empty")


@transaction.atomic
def save_template(*, template: MessageTemplate, actor: Any = None) -> MessageTemplate:
    new = template._state.adding
    authorise(
        actor,
        "marketing.add_messagetemplate" if new else "marketing.change_messagetemplate",
        merchant=template.merchant_id,
    )
    template.name = " ".join(template.name.split())
    check_template(template)
    clash = MessageTemplate.objects.of(template.merchant_id).filter(name=template.name)
    if not new:
        clash = clash.exclude(pk=template.pk)
    if clash.exists():
        raise Conflict(
            _("There is already a template “%(name)s”.") % {"name": template.name}, code="template_taken"
        )
    template.stamp(actor)
    template.save()
    return template


def pick_language(template: MessageTemplate, preferred: str) -> str:
    """The preferred language if the template has text in it, else the first language it has."""
    for language in (preferred, *LANGUAGE_FIELDS):
        suffix = LANGUAGE_FIELDS.get(language)
        if suffix and getattr(template, f"body_{suffix}").strip():
            return language
    return preferred


@dataclass(frozen=True)
class Composed:
    subject: str
    body: str
    parts: int


def compose(
    template: MessageTemplate, language: str, context: Mapping[str, Any], *, unsubscribe_url: str = ""
) -> Composed:
    """The text one recipient gets. A marketing email ends with its unsubscribe link (I4)."""
    suffix = LANGUAGE_FIELDS.get(language, "en")
    body = rendering.render(getattr(template, f"body_{suffix}"), dict(context))
    if template.channel == ChannelKind.SMS:
        if template.strip_diacritics:
            body = rendering.strip_diacritics(body)
        return Composed("", body, rendering.sms_info(body).parts)
    subject = rendering.render(getattr(template, f"subject_{suffix}"), dict(context))
    if unsubscribe_url:
        with translation.override(language):
            footer = gettext("To stop receiving these emails, open: %(url)s") % {"url": unsubscribe_url}
        body = f"{body}\n\n--\n{footer}"
    return Composed(subject[:200], body, 0)


#: What a preview shows for each variable, so the merchant sees a realistic length.
SAMPLE = {
    "name": "Nguyễn Thị Minh Khai",
    "points": 12500,
    "tier": "Vàng",
    "expiring_points": 1200,
    "points_earned": 35,
    "points_spent": 0,
    "code": "TET2026",
    "occasion": "Tết Nguyên Đán",
}


@dataclass(frozen=True)
class Preview:
    language: str
    subject: str
    body: str
    info: rendering.SmsInfo | None


def preview(template: MessageTemplate) -> list[Preview]:
    """Each language's text with sample values; for SMS its encoding, length and parts."""
    merchant = template.merchant
    out = []
    for language, suffix in LANGUAGE_FIELDS.items():
        if not getattr(template, f"body_{suffix}").strip():
            continue
        with translation.override(language):
            context = _format_context(
                dict(SAMPLE),
                merchant=merchant,
                expiry_date=timezone.localdate(timezone=merchant.tz) + timedelta(days=14),
                amount=350000 if merchant.currency == "VND" else 35000,
            )
            composed = compose(template, language, context)
        info = rendering.sms_info(composed.body) if template.channel == ChannelKind.SMS else None
        out.append(Preview(language, composed.subject, composed.body, info))
    return out


# --- automatic notices and holidays (I3) ----------------------------------------------------------------


@transaction.atomic
def save_notice_rule(*, rule: NoticeRule, actor: Any = None) -> NoticeRule:
    authorise(
        actor,
        "marketing.add_noticerule" if rule._state.adding else "marketing.change_noticerule",
        merchant=rule.merchant_id,
    )
    if rule.template.merchant_id != rule.merchant_id:
        raise ValidationFailed(_("The template belongs to another merchant."), code="cross_merchant")
    clash = NoticeRule.objects.of(rule.merchant_id).filter(kind=rule.kind, template=rule.template)
    if not rule._state.adding:
        clash = clash.exclude(pk=rule.pk)
    if clash.exists():
        raise Conflict(_("This notice already uses this template."), code="notice_rule_taken")
    rule.stamp(actor)
    rule.save()
    return rule


def check_holiday(holiday: Holiday) -> None:
    """A solar date that exists (29 February is allowed: greeted on the 28th in other years); a lunar
    day of 1–30, and a leap month only in the lunar calendar."""
    if holiday.calendar == CalendarKind.SOLAR:
        if holiday.leap_month:
            raise ValidationFailed(_("Only a lunar date can be in a leap month."), code="invalid_holiday")
        try:
            date(2024, holiday.month, holiday.day)
        except (ValueError, TypeError):
            raise ValidationFailed(
                _("This day does not exist in that month."), code="invalid_holiday"
            ) from None
    elif not (1 <= holiday.month <= 12 and 1 <= holiday.day <= 30):
        raise ValidationFailed(
            _("A lunar date is a month of 1–12 and a day of 1–30."), code="invalid_holiday"
        )


@transaction.atomic
def save_holiday(*, holiday: Holiday, actor: Any = None) -> Holiday:
    authorise(
        actor,
        "marketing.add_holiday" if holiday._state.adding else "marketing.change_holiday",
        merchant=holiday.merchant_id,
    )
    if holiday.template.merchant_id != holiday.merchant_id:
        raise ValidationFailed(_("The template belongs to another merchant."), code="cross_merchant")
    check_holiday(holiday)
    holiday.stamp(actor)
    holiday.save()
    return holiday


# --- who gets what (I4) -------------------------------------------------------------------------------

#: Member fields read to decide and address a message.
RECIPIENT_FIELDS = (
    "pk",
    "email",
    "full_name",
    "marketing_sms",
    "marketing_email",
    "status",
    "erased_at",
    "superseded_by_id",
)


@dataclass(frozen=True)
class Decision:
    status: MessageStatus
    to: str
    error: str = ""


#: Why a member gets nothing (the message's `error`), shared by `decide` and its SQL in `SetBased`.
ERASED = "member erased or replaced"
EXCLUDED = "member excluded"
NO_CONSENT = "no marketing consent for this channel"


def decide(row: Mapping[str, Any], *, channel: str, marketing: bool) -> Decision:
    """Whether a member gets a message on `channel`, and at which address."""
    address = str(row["phone_text"] or "") if channel == ChannelKind.SMS else str(row["email"] or "")
    if row["erased_at"] is not None or row["superseded_by_id"] is not None:
        return Decision(MessageStatus.SKIPPED_NO_CONSENT, "", ERASED)
    if row["status"] == MemberStatus.EXCLUDED:
        return Decision(MessageStatus.SKIPPED_NO_CONSENT, address, EXCLUDED)
    if marketing and not row["marketing_sms" if channel == ChannelKind.SMS else "marketing_email"]:
        return Decision(MessageStatus.SKIPPED_NO_CONSENT, address, NO_CONSENT)
    if not address:
        return Decision(MessageStatus.SKIPPED_NO_ADDRESS, "", "")
    return Decision(MessageStatus.QUEUED, address)


def with_variables(qs: QuerySet[Member], used: Iterable[str], now: datetime) -> QuerySet[Member]:
    """Annotate what the template's variables need (and only that) as `v_<name>`."""
    used = set(used)
    if "points" in used:
        balance = Account.objects.filter(member=OuterRef("pk"), kind=AccountKind.POINTS).values("balance")[:1]
        qs = qs.annotate(v_points=Coalesce(Subquery(balance), Value(0)))
    if "tier" in used:
        qs = qs.annotate(v_tier=F("tier_state__tier__name"))
    if used & {"expiring_points", "expiry_date"}:
        upcoming = ExpiryNotice.objects.filter(
            account__member=OuterRef("pk"), account__kind=AccountKind.POINTS, expires_at__gt=now
        ).order_by("expires_at")
        qs = qs.annotate(
            v_expiring_points=Subquery(upcoming.values("amount")[:1]),
            v_expiry_date=Subquery(upcoming.values("expires_at")[:1]),
        )
    return qs


def recipient_values(qs: QuerySet[Member], used: Iterable[str], now: datetime) -> QuerySet[Any]:
    annotated = with_variables(qs, used, now)
    extra = [k for k in annotated.query.annotations if k.startswith("v_")]
    # The phone as stored (E.164 text): loading it as a PhoneNumber parses and validates it, which
    # costs more than everything else a recipient needs.
    annotated = annotated.annotate(phone_text=Cast("phone", output_field=CharField()))
    return annotated.values(*RECIPIENT_FIELDS, "phone_text", *extra)


def _format_context(
    context: dict[str, Any],
    *,
    merchant: Merchant,
    expiry_date: date | datetime | None = None,
    amount: int | None = None,
) -> dict[str, Any]:
    """Numbers, dates and money in the active language's format; everything else as it is."""
    out = {
        k: format_points(v) if isinstance(v, int) and not isinstance(v, bool) else v
        for k, v in context.items()
    }
    out["merchant"] = merchant.name
    if expiry_date is not None:
        if isinstance(expiry_date, datetime):
            expiry_date = expiry_date.astimezone(merchant.tz).date()
        out["expiry_date"] = date_format(expiry_date, "SHORT_DATE_FORMAT")
    if amount is not None:
        out["amount"] = format_money(amount, merchant.currency)
    return out


def context_of(row: Mapping[str, Any], merchant: Merchant, extra: Mapping[str, Any]) -> dict[str, Any]:
    """A recipient's variables from its `recipient_values` row and the occasion's `extra` values (which
    win); call it under the message's language."""
    context: dict[str, Any] = {"name": row["full_name"] or ""}
    if "v_points" in row:
        context["points"] = row["v_points"] or 0
    if "v_tier" in row:
        context["tier"] = row["v_tier"] or ""
    if "v_expiring_points" in row:
        context["expiring_points"] = row["v_expiring_points"] or 0
    out = _format_context(context, merchant=merchant, expiry_date=row.get("v_expiry_date"))
    out.update(_format_context(dict(extra), merchant=merchant))
    return out


def local_date_text(moment: datetime, merchant: Merchant) -> str:
    """A moment as the merchant's calendar day, in the active language's short format."""
    return date_format(moment.astimezone(merchant.tz).date(), "SHORT_DATE_FORMAT")


def unsubscribe_token(member_id: int, channel: str) -> str:
    # No timestamp: the same link every time (body and List-Unsubscribe header agree), and it never expires.
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object({"m": member_id, "c": channel}, compress=True)


def public_url(path: str) -> str:
    """An absolute address of this installation (setting TESSERA_PUBLIC_URL), for links in messages."""
    return str(getattr(django_settings, "TESSERA_PUBLIC_URL", "")).rstrip("/") + path


def unsubscribe_url(member_id: int, channel: str) -> str:
    return public_url(reverse("messaging_hooks:unsubscribe", args=[unsubscribe_token(member_id, channel)]))


@dataclass
class Batch:
    """Builds the message rows of one template for many recipients."""

    merchant: Merchant
    template: MessageTemplate
    trigger: Trigger
    marketing: bool
    campaign: Campaign | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    language: str = ""

    def __post_init__(self) -> None:
        self.language = pick_language(self.template, self.merchant.default_language)
        suffix = LANGUAGE_FIELDS.get(self.language, "en")
        body = getattr(self.template, f"body_{suffix}")
        texts = [body, getattr(self.template, f"subject_{suffix}")]
        self.used = {name for text in texts for name in rendering.check_variables(text)}
        self.strip = self.template.channel == ChannelKind.SMS and self.template.strip_diacritics
        # Stripping works character by character, so the template is stripped once and each
        # recipient's values on their own: the same text as stripping every rendered message.
        self.sms_body = rendering.strip_diacritics(body) if self.strip else body

    def _compose(self, context: dict[str, Any], link: str) -> Composed:
        if self.template.channel != ChannelKind.SMS:
            return compose(self.template, self.language, context, unsubscribe_url=link)
        if self.strip:
            context = {k: rendering.strip_diacritics(str(v)) for k, v in context.items()}
        body = rendering.render(self.sms_body, context)
        return Composed("", body, rendering.sms_info(body).parts)

    def values(
        self, row: Mapping[str, Any], *, trigger_ref: str = "", extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The message's fields (attribute names) for one recipient row of `recipient_values`."""
        channel = self.template.channel
        decision = decide(row, channel=channel, marketing=self.marketing)
        composed = Composed("", "", 0)
        if decision.status == MessageStatus.QUEUED:
            context = context_of(row, self.merchant, {**self.extra, **dict(extra or {})})
            link = (
                unsubscribe_url(row["pk"], channel) if self.marketing and channel == ChannelKind.EMAIL else ""
            )
            composed = self._compose(context, link)
        return {
            "merchant_id": self.merchant.pk,
            "member_id": row["pk"],
            "channel": channel,
            "to": decision.to,
            "language": self.language,
            "subject": composed.subject,
            "body": composed.body,
            "parts": composed.parts,
            "is_marketing": self.marketing,
            "status": decision.status.value,
            "error": decision.error,
            "campaign_id": self.campaign.pk if self.campaign else None,
            "trigger": self.trigger.value,
            "trigger_ref": trigger_ref,
            "template_id": self.template.pk,
        }

    def message(
        self, row: Mapping[str, Any], *, trigger_ref: str = "", extra: Mapping[str, Any] | None = None
    ) -> Message:
        return Message(**self.values(row, trigger_ref=trigger_ref, extra=extra))

    def queue(self, rows: Iterable[Mapping[str, Any]], *, trigger_ref: str = "") -> int:
        """Insert one message per row, CHUNK at a time; rows already messaged are skipped silently."""
        count = 0
        chunk: list[dict[str, Any]] = []
        with translation.override(self.language):
            for row in rows:
                chunk.append(self.values(row, trigger_ref=trigger_ref))
                if len(chunk) >= CHUNK:
                    count += insert_rows(chunk)
                    chunk = []
            count += insert_rows(chunk)
        return count


#: The columns `insert_rows` writes, and what a row that does not name one gets.
_FIELDS: list[Any] = [f for f in Message._meta.concrete_fields if not f.primary_key]
_DEFAULTS = [(f.attname, f.get_default()) for f in _FIELDS]
_CREATED, _UPDATED = (
    next(i for i, f in enumerate(_FIELDS) if f.attname == n) for n in ("created_at", "updated_at")
)


#: The per-connection table `insert_rows` stages message rows in on PostgreSQL.
_STAGING = "tessera_message_staging"


def insert_rows(rows: list[dict[str, Any]]) -> int:
    """Insert message rows (attribute name → value) in one transaction; a row for an occasion or a
    campaign member already messaged is dropped by the unique constraints (ON CONFLICT DO NOTHING).

    This is `bulk_create(ignore_conflicts=True)` without building a model instance and preparing each
    value through its field: at 100,000 recipients that bookkeeping costs more than the database. The
    values are plain strings, numbers, booleans and NULLs; only the timestamps need adapting."""
    if not rows:
        return 0
    connection = connections[Message.objects.db_manager().db]
    quote = connection.ops.quote_name
    stamp = connection.ops.adapt_datetimefield_value(timezone.now())
    names = ", ".join(quote(f.column) for f in _FIELDS)
    table = quote(Message._meta.db_table)
    values = [[row.get(name, default) for name, default in _DEFAULTS] for row in rows]
    for row_values in values:
        row_values[_CREATED], row_values[_UPDATED] = stamp, stamp
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY into a temporary table emptied at commit, then one INSERT … SELECT that lets the
            # unique constraints drop what is already there: psycopg writes COPY rows in C, where
            # binding the same rows as arrays (UNNEST) costs more Python than rendering them (issue 16).
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGING} ON COMMIT DELETE ROWS"  # noqa: S608
                f" AS SELECT {names} FROM {table} WITH NO DATA"
            )
            with cursor.cursor.copy(f"COPY {_STAGING} ({names}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM {_STAGING} ON CONFLICT DO NOTHING"  # noqa: S608
            )
            # Emptied now, not only at commit: a caller's outer transaction may insert again.
            cursor.execute(f"TRUNCATE {_STAGING}")
        else:
            hole = "(" + ", ".join(["%s"] * len(_FIELDS)) + ")"
            per_statement = max(1, _max_params(connection) // len(_FIELDS))
            for start in range(0, len(values), per_statement):
                part = values[start : start + per_statement]
                holes = ", ".join([hole] * len(part))
                sql = f"INSERT INTO {table} ({names}) VALUES {holes} ON CONFLICT DO NOTHING"  # noqa: S608
                cursor.execute(sql, [value for row in part for value in row])
    return len(rows)


def _max_params(connection: Any) -> int:
    limit = getattr(connection.features, "max_query_params", None)
    return int(limit) if limit else 30000


#: Variables whose value is the recipient's own; of these, `SetBased` computes name and points in SQL.
_ROW_VARIABLES = frozenset({"name", "points", "tier", "expiring_points", "expiry_date"})
#: Astral characters count twice in UCS-2 (a UTF-16 surrogate pair).
_ASTRAL = "[^\\U00010000-\\U0010FFFF]"
#: Whole points with a plain comma every three digits (bigint's 19 digits), as Python's f"{n:,}".
_POINTS_PATTERN = "FM9,999,999,999,999,999,999"


@dataclass
class SetBased:
    """A campaign's SMS rows written by one `INSERT … SELECT` per chunk (issue 16): the consent decision of
    `decide`, the text of `Batch._compose` — the template's literal parts, rendered once, concatenated
    with the member's name and points balance (grouped as `format_points` groups) — and its parts as
    `rendering.sms_info` counts them. Python reads only the chunk's member ids, and with a template that
    strips diacritics the names that stripping changes, to strip them itself. `of` says when it applies
    (PostgreSQL, SMS, no variable of the recipient's other than name and points); tests check it writes
    what the general path writes."""

    batch: Batch
    pieces: list[tuple[str, str]]  # ("text", literal) or ("name" | "points", "")
    group: str

    @classmethod
    def of(cls, batch: Batch, connection: Any) -> SetBased | None:
        if connection.vendor != "postgresql" or batch.template.channel != ChannelKind.SMS:
            return None
        own = (batch.used - set(batch.extra)) & _ROW_VARIABLES
        if not own <= {"name", "points"}:
            return None
        with translation.override(batch.language):
            group = points_group_separator()
            if group is None:
                return None
            constants = context_of({"full_name": ""}, batch.merchant, batch.extra)
        pieces: list[tuple[str, str]] = []
        for index, piece in enumerate(rendering.pieces(batch.sms_body)):
            if index % 2 and piece in own:
                pieces.append((piece, ""))
                continue
            text = str(constants.get(piece, "")) if index % 2 else piece
            if index % 2 and batch.strip:
                text = rendering.strip_diacritics(text)
            if pieces and pieces[-1][0] == "text":
                pieces[-1] = ("text", pieces[-1][1] + text)
            else:
                pieces.append(("text", text))
        if batch.strip:
            group = rendering.strip_diacritics(group)
        return cls(batch, pieces, group)

    @property
    def strips_names(self) -> bool:
        return self.batch.strip and any(kind == "name" for kind, _text in self.pieces)

    def queue(self, members: QuerySet[Member], on_chunk: Callable[[], bool]) -> int:
        """Queue one message per member of `members`, CHUNK members per transaction, after `on_chunk()`
        says to go on (False: stop); a member already messaged is left as it is. Returns how many
        members were read. The members are read once, by a server-side cursor, as `iterator()` does."""
        connection = connections[Message.objects.db_manager().db]
        strips = self.strips_names
        columns = ("pk", "full_name") if strips else ("pk",)
        sql, params = members.values_list(*columns).query.sql_with_params()
        statement, arguments = self._insert()
        count = 0
        reader = connection.chunked_cursor()
        try:
            reader.execute(sql, params)
            while rows := reader.fetchmany(CHUNK):
                if not on_chunk():
                    break
                changed = (
                    [
                        (pk, rendering.strip_diacritics(name))
                        for pk, name in rows
                        if name and not rendering.kept_by_stripping(name)
                    ]
                    if strips
                    else []
                )
                arguments.update(
                    ids=[row[0] for row in rows],
                    plain_ids=[pk for pk, _name in changed],
                    plain_names=[name for _pk, name in changed],
                    now=timezone.now(),
                )
                with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                    # Compiling this short statement (JIT) would cost more than running it.
                    cursor.execute("SET LOCAL jit = off")
                    cursor.execute(statement, arguments)
                count += len(rows)
        finally:
            reader.close()
        return count

    def _insert(self) -> tuple[str, dict[str, Any]]:
        batch = self.batch
        quote = connections[Message.objects.db_manager().db].ops.quote_name
        args: dict[str, Any] = {
            "kind": AccountKind.POINTS.value,
            "group": self.group,
            "queued": MessageStatus.QUEUED.value,
            "no_consent": MessageStatus.SKIPPED_NO_CONSENT.value,
            "no_address": MessageStatus.SKIPPED_NO_ADDRESS.value,
            "erased": ERASED,
            "excluded": EXCLUDED,
            "no_consent_error": NO_CONSENT,
            "excluded_status": MemberStatus.EXCLUDED.value,
            "marketing": batch.marketing,
            "gsm": rendering.GSM_PG_PATTERN,
            "extended": rendering.GSM_EXTENDED_TEXT,
            "astral": _ASTRAL,
            "points_pattern": _POINTS_PATTERN,
            "now": timezone.now(),
        }
        parts = []
        for index, (kind, text) in enumerate(self.pieces):
            if kind == "text":
                args[f"t{index}"] = text
                parts.append(f"%(t{index})s::text")
            elif kind == "name":
                parts.append(
                    "COALESCE(p.plain, m.full_name, '')" if batch.strip else "COALESCE(m.full_name, '')"
                )
            else:
                parts.append("replace(to_char(COALESCE(a.balance, 0), %(points_pattern)s), ',', %(group)s)")
        body = "concat(" + ", ".join(parts or ["''"]) + ")"
        computed = {
            "created_at": "%(now)s",
            "updated_at": "%(now)s",
            "merchant_id": "b.merchant_id",
            "member_id": "b.id",
            "to": "b.recipient",
            "subject": "''",
            "body": "b.body",
            "parts": "t.parts",
            "status": "b.status",
            "error": "b.error",
        }
        select = []
        for f in _FIELDS:
            if f.attname in computed:
                select.append(computed[f.attname])
                continue
            value = {
                "channel": batch.template.channel,
                "language": batch.language,
                "is_marketing": batch.marketing,
                "campaign_id": batch.campaign.pk if batch.campaign else None,
                "trigger": batch.trigger.value,
                "trigger_ref": "",
                "template_id": batch.template.pk,
            }.get(f.attname, f.get_default())
            args[f"f_{f.attname}"] = value
            select.append(f"%(f_{f.attname})s")
        names = ", ".join(quote(f.column) for f in _FIELDS)
        gsm = "TRUE" if batch.strip else "r.body ~ %(gsm)s"
        sql = f"""
            INSERT INTO {quote(Message._meta.db_table)} ({names})
            SELECT {", ".join(select)}
            FROM (
                SELECT r.*, CASE WHEN {gsm}
                    THEN char_length(r.body) * 2 - char_length(translate(r.body, %(extended)s, ''))
                    ELSE char_length(r.body) + char_length(regexp_replace(r.body, %(astral)s, '', 'g'))
                    END AS length, {gsm} AS gsm
                FROM (
                    SELECT m.id, m.merchant_id, d.status, d.error, d.recipient,
                        CASE WHEN d.status = %(queued)s THEN {body} ELSE '' END AS body
                    FROM {quote(Member._meta.db_table)} m
                    LEFT JOIN LATERAL (SELECT x.balance FROM {quote(Account._meta.db_table)} x
                        WHERE x.member_id = m.id AND x.kind = %(kind)s LIMIT 1) a ON TRUE
                    LEFT JOIN unnest(%(plain_ids)s::bigint[], %(plain_names)s::text[]) AS p(id, plain)
                        ON p.id = m.id
                    CROSS JOIN LATERAL (SELECT COALESCE(m.phone::text, '') AS address,
                        m.erased_at IS NOT NULL OR m.superseded_by_id IS NOT NULL AS gone) ad
                    CROSS JOIN LATERAL (SELECT
                        CASE WHEN ad.gone THEN %(no_consent)s
                             WHEN m.status = %(excluded_status)s THEN %(no_consent)s
                             WHEN %(marketing)s AND NOT m.marketing_sms THEN %(no_consent)s
                             WHEN ad.address = '' THEN %(no_address)s
                             ELSE %(queued)s END AS status,
                        CASE WHEN ad.gone THEN %(erased)s
                             WHEN m.status = %(excluded_status)s THEN %(excluded)s
                             WHEN %(marketing)s AND NOT m.marketing_sms THEN %(no_consent_error)s
                             ELSE '' END AS error,
                        CASE WHEN ad.gone THEN ''
                             ELSE ad.address END AS recipient) d
                    WHERE m.id = ANY(%(ids)s::bigint[])
                    OFFSET 0
                ) r
                OFFSET 0
            ) b
            CROSS JOIN LATERAL (SELECT CASE
                WHEN b.length = 0 THEN 0
                WHEN b.length <= CASE WHEN b.gsm THEN 160 ELSE 70 END THEN 1
                ELSE ceil(b.length::numeric / CASE WHEN b.gsm THEN 153 ELSE 67 END)::int END AS parts) t
            ON CONFLICT DO NOTHING
        """  # noqa: S608
        return sql, args


# --- one message ---------------------------------------------------------------------------------------


@transaction.atomic
def send_to_member(
    *,
    member: Member,
    template: MessageTemplate,
    trigger: Trigger,
    trigger_ref: str = "",
    marketing: bool,
    variables: Mapping[str, Any] | None = None,
    actor: Any = None,
    now: datetime | None = None,
) -> Message:
    """Queue one message to one member (or record why it is skipped). With a `trigger_ref`, the same
    occasion never gives the member a second message on the channel: the first is returned."""
    authorise(actor, "marketing.add_message", merchant=member.merchant_id)
    if template.merchant_id != member.merchant_id:
        raise ValidationFailed(_("The template belongs to another merchant."), code="cross_merchant")
    now = now or timezone.now()
    if trigger_ref:
        existing = Message.objects.filter(
            merchant_id=member.merchant_id,
            member=member,
            channel=template.channel,
            trigger=trigger,
            trigger_ref=trigger_ref,
            campaign__isnull=True,
        ).first()
        if existing is not None:
            return existing
    batch = Batch(merchant=member.merchant, template=template, trigger=trigger, marketing=marketing)
    row = recipient_values(Member.objects.filter(pk=member.pk), batch.used, now).get()
    extra = dict(variables or {})
    money = extra.pop("amount", None)
    with translation.override(batch.language):
        if money is not None:
            extra["amount"] = format_money(int(money), member.merchant.currency)
        message = batch.message(row, trigger_ref=trigger_ref, extra=extra)
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:  # the same occasion, queued at the same moment by another worker
        return Message.objects.get(
            merchant_id=member.merchant_id,
            member=member,
            channel=template.channel,
            trigger=trigger,
            trigger_ref=trigger_ref,
            campaign__isnull=True,
        )
    return message


# --- campaigns -----------------------------------------------------------------------------------------


def read_phone_list(*, merchant: Merchant, name: str, content: bytes) -> list[str]:
    """The phones of an uploaded CSV or XLSX (first column; a header row is ignored), in E.164, without
    duplicates. Read as member imports read their files — any encoding and delimiter Excel writes,
    numbers Excel stripped of their leading zero. Lines that are not phone numbers are refused with
    their line numbers."""
    phones: dict[str, None] = {}
    bad: list[int] = []
    with tempfile.NamedTemporaryFile(suffix=Path(name).suffix) as stored:
        stored.write(content)
        stored.flush()
        try:
            kind = reading.file_format(name, content[: reading.SNIFF_BYTES])
            with reading.open_table(Path(stored.name), file_format=kind, country=merchant.country) as table:
                first = (1, [table.headers[0] if table.headers else ""])  # a header, or the first phone
                for number, cells in chain([first], table.rows):
                    if not cells or fields.is_blank(cells[0]):
                        continue
                    try:
                        phones[fields.phone(cells[0], region=merchant.country)] = None
                    except fields.CellError:
                        if number > 1:
                            bad.append(number)
        except reading.FileProblem as problem:
            raise ValidationFailed(problem.message, code="invalid_list") from None
    if bad:
        raise ValidationFailed(
            _("These lines are not phone numbers: %(lines)s.") % {"lines": ", ".join(map(str, bad[:20]))},
            code="invalid_list",
            lines=bad[:100],
        )
    if not phones:
        raise ValidationFailed(_("The list has no phone numbers."), code="invalid_list")
    if len(phones) > MAX_LIST_PHONES:
        raise ValidationFailed(
            _("A list may hold at most %(max)s phones; use a segment for more.") % {"max": MAX_LIST_PHONES},
            code="invalid_list",
        )
    return list(phones)


def _check_campaign(
    *, merchant: Merchant, name: str, template: MessageTemplate, segment: Segment | None, phones: Any
) -> str:
    """The campaign's name, tidied; refuses another merchant's template or segment, no audience or no name."""
    if template.merchant_id != merchant.pk or (segment is not None and segment.merchant_id != merchant.pk):
        raise ValidationFailed(
            _("The template or segment belongs to another merchant."), code="cross_merchant"
        )
    if (segment is None) == (not phones):
        raise ValidationFailed(
            _("Choose a segment or upload a list of phones (one of the two)."), code="audience_required"
        )
    name = " ".join((name or "").split())
    if not name:
        raise ValidationFailed(_("A campaign needs a name."), code="invalid_campaign")
    return name


@transaction.atomic
def create_campaign(
    *,
    merchant: Merchant,
    name: str,
    template: MessageTemplate,
    segment: Segment | None = None,
    phones: list[str] | None = None,
    list_name: str = "",
    scheduled_at: datetime | None = None,
    throttle_per_minute: int = 0,
    code: str = "",
    actor: Any = None,
) -> Campaign:
    """A draft campaign to a segment or to a list of phones (already read by `read_phone_list`)."""
    authorise(actor, "marketing.add_campaign", merchant=merchant)
    name = _check_campaign(merchant=merchant, name=name, template=template, segment=segment, phones=phones)
    if throttle_per_minute < 0:
        raise ValidationFailed(_("The rate cannot be negative."), code="invalid_throttle")
    campaign = Campaign(
        merchant=merchant,
        name=name,
        template=template,
        audience=AudienceKind.SEGMENT if segment is not None else AudienceKind.LIST,
        segment=segment,
        phones=list(phones or []),
        list_name=list_name[:200],
        scheduled_at=scheduled_at,
        throttle_per_minute=throttle_per_minute,
        code=code.strip(),
    )
    campaign.stamp(actor)
    campaign.save()
    return campaign


@transaction.atomic
def update_campaign(
    *,
    campaign: Campaign,
    name: str,
    template: MessageTemplate,
    segment: Segment | None = None,
    phones: list[str] | None = None,
    list_name: str = "",
    scheduled_at: datetime | None = None,
    throttle_per_minute: int = 0,
    code: str = "",
    actor: Any = None,
) -> Campaign:
    """Change a draft. `phones` None keeps the list already uploaded; once launched a campaign is fixed."""
    authorise(actor, "marketing.change_campaign", merchant=campaign.merchant_id)
    locked = _locked_campaign(campaign)
    if locked.status != CampaignStatus.DRAFT:
        raise Conflict(_("Only a draft campaign can be changed."), code="campaign_not_draft")
    if segment is None and phones is None:
        phones, list_name = locked.phones, locked.list_name
    name = _check_campaign(
        merchant=locked.merchant, name=name, template=template, segment=segment, phones=phones
    )
    if throttle_per_minute < 0:
        raise ValidationFailed(_("The rate cannot be negative."), code="invalid_throttle")
    locked.name = name
    locked.template = template
    locked.audience = AudienceKind.SEGMENT if segment is not None else AudienceKind.LIST
    locked.segment = segment
    locked.phones = [] if segment is not None else list(phones or [])
    locked.list_name = "" if segment is not None else list_name[:200]
    locked.scheduled_at = scheduled_at
    locked.throttle_per_minute = throttle_per_minute
    locked.code = code.strip()
    locked.stamp(actor)
    locked.save()
    return _refresh(campaign, locked)


@dataclass(frozen=True)
class CampaignPreview:
    """What a campaign would send, before it is saved: each language's text for one member of the
    audience (sample values when it has none), who gets it, and for SMS the parts and their cost."""

    member_name: str  # "" when the sample values were used
    texts: list[Preview]
    language: str  # the language the campaign is sent in
    addressed: int
    recipients: int  # of whom accept marketing on the channel
    parts: int | None  # SMS parts of one message, in the language sent
    cost: int | None  # in the currency's minor unit; None without a price per part
    currency: str

    @property
    def total_parts(self) -> int | None:
        return None if self.parts is None else self.parts * self.recipients

    @property
    def cost_text(self) -> str:
        return "" if self.cost is None else format_money(self.cost, self.currency)


def preview_campaign(*, campaign: Campaign, now: datetime | None = None) -> CampaignPreview:
    """The text a campaign (saved or not) would send to the first member of its audience who accepts
    it, in each language of its template, and what the SMS would cost (I2: `sms_part_price`)."""
    template, merchant = campaign.template, campaign.merchant
    now = now or timezone.now()
    addressed, recipients = selectors.audience_counts(campaign)
    used = {
        name
        for suffix in LANGUAGE_FIELDS.values()
        for text in (getattr(template, f"body_{suffix}"), getattr(template, f"subject_{suffix}"))
        for name in rendering.check_variables(text)
    }
    flag = "marketing_sms" if template.channel == ChannelKind.SMS else "marketing_email"
    audience = selectors.audience(campaign, now=now).order_by(f"-{flag}", "pk")
    row = recipient_values(audience, used, now).first()
    extra = {"code": campaign.code} if campaign.code else {}
    texts = []
    for language, suffix in LANGUAGE_FIELDS.items():
        if not getattr(template, f"body_{suffix}").strip():
            continue
        with translation.override(language):
            if row is not None:
                context = context_of(row, merchant, extra)
            else:
                context = _format_context(
                    {**SAMPLE, **extra},
                    merchant=merchant,
                    expiry_date=timezone.localdate(timezone=merchant.tz) + timedelta(days=14),
                )
            composed = compose(template, language, context)
        info = rendering.sms_info(composed.body) if template.channel == ChannelKind.SMS else None
        texts.append(Preview(language, composed.subject, composed.body, info))
    language = pick_language(template, merchant.default_language)
    sent = next((t for t in texts if t.language == language), None)
    parts = sent.info.parts if sent is not None and sent.info is not None else None
    price = settings_for(merchant).sms_part_price
    cost = parts * recipients * price if parts is not None and price is not None else None
    return CampaignPreview(
        member_name=(row["full_name"] or row["phone_text"] or "") if row is not None else "",
        texts=texts,
        language=language,
        addressed=addressed,
        recipients=recipients,
        parts=parts,
        cost=cost,
        currency=merchant.currency,
    )


def _locked_campaign(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update().select_related("merchant", "template").get(pk=campaign.pk)


def _refresh(target: Campaign, source: Campaign) -> Campaign:
    for f in Campaign._meta.concrete_fields:
        setattr(target, f.attname, getattr(source, f.attname))
    return target


@transaction.atomic
def launch_campaign(*, campaign: Campaign, actor: Any = None, now: datetime | None = None) -> Campaign:
    """Draft → scheduled. It is queued at `scheduled_at`, or at once when that is empty or past."""
    authorise(actor, "marketing.send_campaign", merchant=campaign.merchant_id)
    now = now or timezone.now()
    locked = _locked_campaign(campaign)
    if locked.status != CampaignStatus.DRAFT:
        raise Conflict(_("Only a draft campaign can be launched."), code="campaign_not_draft")
    check_template(locked.template)
    locked.status = CampaignStatus.SCHEDULED
    locked.scheduled_at = max(locked.scheduled_at, now) if locked.scheduled_at else now
    locked.launched_at = now
    locked.stamp(actor)
    locked.save()
    if locked.scheduled_at <= now:
        from tessera.marketing.tasks import queue_campaign_task

        transaction.on_commit(lambda: queue_campaign_task(locked.pk))
    return _refresh(campaign, locked)


def campaign_batch(campaign: Campaign) -> Batch:
    """What builds a campaign's messages: its template, marketing consent, its code as `{{ code }}`."""
    return Batch(
        merchant=campaign.merchant,
        template=campaign.template,
        trigger=Trigger.CAMPAIGN,
        marketing=True,
        campaign=campaign,
        extra={"code": campaign.code} if campaign.code else {},
    )


def queue_campaign(*, campaign_id: int, now: datetime | None = None) -> int:
    """Build the campaign's messages when it is due: scheduled → sending. Returns how many rows.

    The claim is one conditional UPDATE, so a retried task or the periodic sweep never queues a
    campaign twice; and the unique (campaign, member) constraint makes a resumed queueing after a
    crash insert only the missing rows."""
    now = now or timezone.now()
    claimed = Campaign.objects.filter(
        pk=campaign_id, status=CampaignStatus.SCHEDULED, scheduled_at__lte=now
    ).update(status=CampaignStatus.SENDING, updated_at=now)
    # A queueing that stopped half-way (a crashed worker) is resumed once it has been quiet a while.
    resumable = Campaign.objects.filter(
        pk=campaign_id,
        status=CampaignStatus.SENDING,
        queued_at__isnull=True,
        updated_at__lt=now - STALE_QUEUEING,
    ).update(updated_at=now)
    if not claimed and not resumable:
        return 0
    campaign = Campaign.objects.select_related("merchant", "template", "segment").get(pk=campaign_id)
    batch = campaign_batch(campaign)
    done = Message.objects.filter(campaign=campaign, member=OuterRef("pk"))
    members_qs = selectors.audience(campaign, now=now).exclude(Exists(done)).order_by("pk")
    count = 0
    set_based = SetBased.of(batch, connections[Message.objects.db_manager().db])
    if set_based is not None:
        going = True

        def on_chunk() -> bool:
            nonlocal going
            going = bool(
                Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SENDING).update(
                    updated_at=timezone.now()
                )
            )
            return going

        count = set_based.queue(members_qs, on_chunk)
        if not going:
            return count  # cancelled meanwhile
    else:
        rows = recipient_values(members_qs, batch.used, now).iterator(chunk_size=CHUNK)
        for chunk in _chunks(rows, CHUNK):
            if not Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SENDING).update(
                updated_at=timezone.now()
            ):
                return count  # cancelled meanwhile
            count += batch.queue(chunk)
    if campaign.audience == AudienceKind.LIST:
        count += _queue_unknown_phones(campaign)
    total = Message.objects.filter(campaign=campaign).count()
    Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SENDING).update(
        queued_at=timezone.now(), audience_size=total
    )
    return count


def _chunks(rows: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _queue_unknown_phones(campaign: Campaign) -> int:
    """Phones of the list that are no member's: recorded as skipped (no consent on record), never sent."""
    known = set(
        str(p)
        for p in Member.objects.of(campaign.merchant_id)
        .filter(phone__in=campaign.phones, superseded_by__isnull=True, erased_at__isnull=True)
        .values_list("phone", flat=True)
    )
    unknown = [p for p in campaign.phones if p not in known]
    channel = campaign.template.channel
    rows = [
        {
            "merchant_id": campaign.merchant_id,
            "channel": channel,
            "to": phone,
            "is_marketing": True,
            "status": MessageStatus.SKIPPED_NO_CONSENT.value,
            "error": "not a member",
            "campaign_id": campaign.pk,
            "trigger": Trigger.CAMPAIGN.value,
            "template_id": campaign.template_id,
        }
        for phone in unknown
    ]
    return sum(insert_rows(rows[i : i + CHUNK]) for i in range(0, len(rows), CHUNK))


@transaction.atomic
def cancel_campaign(*, campaign: Campaign, actor: Any = None, now: datetime | None = None) -> Campaign:
    """Stop a campaign: messages not yet handed to the provider are cancelled; sent ones stay sent."""
    authorise(actor, "marketing.send_campaign", merchant=campaign.merchant_id)
    now = now or timezone.now()
    locked = _locked_campaign(campaign)
    if locked.status in (CampaignStatus.DONE, CampaignStatus.CANCELLED):
        raise Conflict(_("This campaign has already ended."), code="campaign_ended")
    locked.status = CampaignStatus.CANCELLED
    locked.finished_at = now
    locked.stamp(actor)
    locked.save()
    Message.objects.filter(campaign=locked, status=MessageStatus.QUEUED).update(
        status=MessageStatus.CANCELLED, updated_at=now
    )
    return _refresh(campaign, locked)


@transaction.atomic
def retry_failed(*, campaign: Campaign, actor: Any = None, now: datetime | None = None) -> int:
    """Queue the campaign's failed messages again (each keeps its row: one member, one message)."""
    authorise(actor, "marketing.send_campaign", merchant=campaign.merchant_id)
    now = now or timezone.now()
    locked = _locked_campaign(campaign)
    if locked.status not in (CampaignStatus.SENDING, CampaignStatus.DONE):
        raise Conflict(_("Only a sent campaign has failed messages to retry."), code="campaign_not_sent")
    count = Message.objects.filter(campaign=locked, status=MessageStatus.FAILED).update(
        status=MessageStatus.QUEUED, error="", failed_at=None, updated_at=now
    )
    if count and locked.status == CampaignStatus.DONE:
        locked.status = CampaignStatus.SENDING
        locked.finished_at = None
        locked.stamp(actor)
        locked.save()
    _refresh(campaign, locked)
    if count:
        from tessera.marketing.tasks import drain_task

        transaction.on_commit(lambda: drain_task(locked.merchant_id))
    return count


@transaction.atomic
def retry_message(*, message: Message, actor: Any = None, now: datetime | None = None) -> Message:
    """Queue one failed message again."""
    authorise(actor, "marketing.change_message", merchant=message.merchant_id)
    now = now or timezone.now()
    if not Message.objects.filter(pk=message.pk, status=MessageStatus.FAILED).update(
        status=MessageStatus.QUEUED, error="", failed_at=None, updated_at=now
    ):
        raise Conflict(_("Only a failed message can be sent again."), code="message_not_failed")
    if message.campaign_id:
        Campaign.objects.filter(pk=message.campaign_id, status=CampaignStatus.DONE).update(
            status=CampaignStatus.SENDING, finished_at=None
        )
    message.refresh_from_db()
    return message


# --- delivery receipts (I1) ----------------------------------------------------------------------------


def _verify_receipt(row: ChannelSettings, body: bytes, header: str, now: datetime) -> None:
    if not is_valid_signature(row.receipt_secret, body, header, now=now, max_age=RECEIPT_MAX_AGE):
        # Counted in its own statement: the refusal below must not roll the count back.
        ChannelSettings.objects.filter(pk=row.pk).update(rejected_receipts=F("rejected_receipts") + 1)
        raise Rejected(_("The receipt's signature is missing, wrong or too old."))


@dataclass(frozen=True)
class ReceiptResult:
    updated: int
    unchanged: int
    unknown: int


#: Receipt statuses providers send, mapped to ours.
RECEIPT_STATUSES = {
    "delivered": MessageStatus.DELIVERED,
    "failed": MessageStatus.FAILED,
    "undelivered": MessageStatus.FAILED,
    "rejected": MessageStatus.FAILED,
    "expired": MessageStatus.FAILED,
}


def record_receipts(
    *, token: str, body: bytes, headers: Mapping[str, str], now: datetime | None = None
) -> ReceiptResult:
    """Apply a provider's signed delivery receipts (`{"receipts": [{"id", "status", "error"?,
    "reference"?}]}` or one receipt object). Only sent messages change; a delivered or failed message
    keeps its status, so a replayed receipt changes nothing."""
    now = now or timezone.now()
    row = ChannelSettings.objects.filter(receipt_token=token).first()
    if row is None:
        raise NotFound(_("Unknown receipt address."), code="unknown_receipt_address")
    _verify_receipt(row, body, headers.get(SIGNATURE_HEADER, ""), now)
    try:
        data = json.loads(body)
        receipts = data["receipts"] if isinstance(data, dict) and "receipts" in data else [data]
        parsed = [
            (
                str(r.get("id") or ""),
                str(r.get("reference") or ""),
                RECEIPT_STATUSES[str(r["status"]).lower()],
                str(r.get("error") or ""),
            )
            for r in receipts
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValidationFailed(
            _("The receipt is not valid JSON of the documented shape."), code="invalid_receipt"
        ) from None
    updated = unchanged = unknown = 0
    with transaction.atomic():
        for provider_id, reference, status, error in parsed:
            messages = Message.objects.filter(merchant_id=row.merchant_id)
            target = messages.filter(provider_message_id=provider_id) if provider_id else messages.none()
            if not target.exists() and (message_id := parse_id(reference)):
                # The receipt beat our own "sent" bookkeeping: matched by our reference, not yet by id.
                target = messages.filter(pk=message_id, provider_message_id="")
            if not target.exists():
                unknown += 1
                continue
            changes: dict[str, Any] = {"status": status, "updated_at": now}
            if status == MessageStatus.DELIVERED:
                changes["delivered_at"] = now
            else:
                changes.update(failed_at=now, error=(error or "reported undelivered by the provider")[:300])
            if provider_id:
                changes["provider_message_id"] = provider_id
            if target.filter(status__in=[MessageStatus.SENDING, MessageStatus.SENT]).update(**changes):
                updated += 1
            else:
                unchanged += 1
    return ReceiptResult(updated, unchanged, unknown)


# --- unsubscribe (I4) ----------------------------------------------------------------------------------


def member_of_unsubscribe_token(token: str) -> tuple[Member, str]:
    try:
        data = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)
        member = Member.objects.select_related("merchant").get(pk=int(data["m"]))
        channel = ChannelKind(data["c"])
    except (signing.BadSignature, KeyError, ValueError, TypeError, Member.DoesNotExist):
        raise NotFound(_("This unsubscribe link is not valid."), code="invalid_unsubscribe_link") from None
    return member, channel


def unsubscribe(*, token: str) -> Member:
    """The member of a signed link stops receiving marketing on its channel (through members' service)."""
    member, channel = member_of_unsubscribe_token(token)
    if member.erased_at is not None:
        return member
    flag = "marketing_sms" if channel == ChannelKind.SMS else "marketing_email"
    if getattr(member, flag):
        members.update_member_profile(member=member, **{flag: False})
    return member


# --- erasure (C5) ---------------------------------------------------------------------------------------


def forget_member(*, member_id: int) -> int:
    """Blank the addresses and texts of an erased member's messages; the rows stay as counts."""
    return (
        Message.objects.filter(member_id=member_id)
        .exclude(to="", body="", subject="")
        .update(to="", body="", subject="")
    )


def email_sender(row: ChannelSettings) -> str:
    address = row.email_from or django_settings.DEFAULT_FROM_EMAIL
    return formataddr((row.email_from_name, address)) if row.email_from_name else address
