"""Sending queued messages through their channel, at the channel's rate, never one twice (I1, I2).

`drain` runs every minute (and right after something is queued). For each merchant and channel with
queued messages it works out the budget: the channel's rate per minute less what was handed to the
provider in the last 60 seconds. It claims that many rows — service notices first, then each sending
campaign within its own throttle — by moving them `queued → sending` in one transaction that holds the
merchant's channel-settings row (so two drains never spend one budget twice) and, on PostgreSQL, skips
rows another worker has locked. Only the worker that claimed a row sends it. A row left `sending` by a
worker that died is marked failed after `STALE_CLAIM`, never sent again by itself: we cannot know
whether the provider got it, and a member must not get a message twice; staff may retry it.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from django.core.mail import EmailMessage, get_connection
from django.core.mail.message import make_msgid
from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from tessera.core.sms import HttpBackend, SmsBackend, SmsMessage, SmsSendError, get_backend
from tessera.marketing import services
from tessera.marketing.models import (
    Campaign,
    CampaignStatus,
    ChannelKind,
    ChannelSettings,
    Message,
    MessageStatus,
    SmsProvider,
)

logger = logging.getLogger(__name__)

WINDOW = timedelta(seconds=60)
STALE_CLAIM = timedelta(minutes=10)


def sms_backend(row: ChannelSettings) -> SmsBackend:
    if row.sms_provider == SmsProvider.HTTP:
        return HttpBackend(url=row.sms_api_url, api_key=row.sms_api_key, sender=row.sms_sender)
    return get_backend()


def merchant_sms_backend(merchant_id: int) -> SmsBackend | None:
    """For `core.sms`: the merchant's own provider, so one-time codes leave through it too."""
    row = ChannelSettings.objects.of(merchant_id).filter(sms_provider=SmsProvider.HTTP).first()
    return sms_backend(row) if row is not None else None


class SendFailed(Exception):
    pass


def _send_email(message: Message, row: ChannelSettings, connection: Any) -> str:
    message_id = make_msgid(domain="tessera.local")
    headers = {"Message-ID": message_id, "X-Tessera-Message": str(message.pk)}
    if message.is_marketing and message.member_id:
        url = services.unsubscribe_url(message.member_id, ChannelKind.EMAIL)
        headers["List-Unsubscribe"] = f"<{url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email = EmailMessage(
        subject=message.subject,
        body=message.body,
        from_email=services.email_sender(row),
        to=[message.to],
        headers=headers,
        connection=connection,
    )
    try:
        email.send()
    except (OSError, ValueError) as exc:  # smtplib's errors are OSErrors
        raise SendFailed(str(exc)[:300]) from None
    return message_id.strip("<>")


def _send_sms(message: Message, row: ChannelSettings, backend: SmsBackend, now: datetime) -> str:
    sms = SmsMessage(
        merchant_id=message.merchant_id,
        phone=message.to,
        text=message.body,
        sent_at=now,
        sender=row.sms_sender,
        reference=str(message.pk),
    )
    try:
        return backend.send(sms)
    except SmsSendError as exc:
        raise SendFailed(exc.detail) from None


def _pick(queued: QuerySet[Message], limit: int) -> list[int]:
    if limit <= 0:
        return []
    return list(
        queued.order_by("pk").select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit]
    )


def claim(*, merchant_id: int, channel: str, now: datetime) -> list[int]:
    """Move up to the channel's remaining budget of queued messages to `sending`; return their ids."""
    row = services.settings_for(merchant_id)
    with transaction.atomic():
        row = ChannelSettings.objects.select_for_update().get(pk=row.pk)
        window = now - WINDOW
        mine = Message.objects.filter(merchant_id=merchant_id, channel=channel)
        budget = row.rate_per_minute(channel) - mine.filter(claimed_at__gt=window).count()
        queued = mine.filter(status=MessageStatus.QUEUED)
        ids = _pick(queued.filter(campaign__isnull=True), budget)
        budget -= len(ids)
        campaigns = Campaign.objects.filter(
            merchant_id=merchant_id, status=CampaignStatus.SENDING, template__channel=channel
        ).order_by("pk")
        for campaign in campaigns:
            if budget <= 0:
                break
            limit = budget
            if campaign.throttle_per_minute:
                recent = Message.objects.filter(campaign=campaign, claimed_at__gt=window).count()
                limit = min(limit, campaign.throttle_per_minute - recent)
            picked = _pick(queued.filter(campaign=campaign), limit)
            ids.extend(picked)
            budget -= len(picked)
        if ids:
            Message.objects.filter(pk__in=ids, status=MessageStatus.QUEUED).update(
                status=MessageStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now
            )
    return ids


def send_claimed(*, ids: list[int], row: ChannelSettings, now: datetime) -> int:
    """Hand each claimed message to its channel and record the outcome. Returns how many were sent.

    Outcomes are written FLUSH_EVERY messages at a time, in one transaction: a commit per message would
    cost more than the sending. A crash before a flush leaves those rows `sending`, which is safe
    (see `fail_stale_claims`)."""
    sent = 0
    outcomes: list[tuple[int, str, str]] = []  # (message id, provider id, error)
    messages = Message.objects.filter(pk__in=ids, status=MessageStatus.SENDING).order_by("pk")
    backend = sms_backend(row)
    mail = _Mail()
    try:
        for message in messages.iterator(chunk_size=500):
            try:
                if message.channel == ChannelKind.SMS:
                    outcomes.append((message.pk, _send_sms(message, row, backend, now), ""))
                else:
                    outcomes.append((message.pk, _send_email(message, row, mail.connection()), ""))
                sent += 1
            except SendFailed as exc:
                outcomes.append((message.pk, "", str(exc)[:300] or "failed"))
            if len(outcomes) >= FLUSH_EVERY:
                _record(outcomes)
                outcomes = []
    finally:
        _record(outcomes)
        mail.close()
    return sent


#: Outcomes of sending recorded per transaction.
FLUSH_EVERY = 100


def _record(outcomes: list[tuple[int, str, str]]) -> None:
    done = timezone.now()
    with transaction.atomic():
        for pk, provider_id, error in outcomes:
            sending = Message.objects.filter(pk=pk, status=MessageStatus.SENDING)
            if error:
                sending.update(status=MessageStatus.FAILED, failed_at=done, error=error, updated_at=done)
            elif not sending.update(
                status=MessageStatus.SENT,
                sent_at=done,
                provider_message_id=provider_id[:100],
                updated_at=done,
            ):
                # A receipt arrived first (matched by our reference) and set the status: keep it.
                Message.objects.filter(pk=pk, provider_message_id="").update(
                    sent_at=done, provider_message_id=provider_id[:100]
                )


class _Mail:
    """One SMTP connection for a batch of emails, opened at the first email (a batch of SMS needs none,
    and an unreachable mail server must not stop the SMS)."""

    def __init__(self) -> None:
        self._connection: Any = None

    def connection(self) -> Any:
        if self._connection is None:
            connection = get_connection(fail_silently=False)
            try:
                connection.open()
            except (OSError, ValueError) as exc:
                raise SendFailed(str(exc)[:300]) from None
            self._connection = connection
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(OSError):
                self._connection.close()


def fail_stale_claims(now: datetime) -> int:
    return Message.objects.filter(status=MessageStatus.SENDING, claimed_at__lt=now - STALE_CLAIM).update(
        status=MessageStatus.FAILED,
        failed_at=now,
        error="interrupted before the provider answered; not sent again automatically",
        updated_at=now,
    )


def finish_campaigns(now: datetime) -> int:
    """Sending campaigns that are fully queued and have nothing left to send are done."""
    open_messages = Message.objects.filter(
        campaign=OuterRef("pk"), status__in=[MessageStatus.QUEUED, MessageStatus.SENDING]
    )
    return (
        Campaign.objects.filter(status=CampaignStatus.SENDING, queued_at__isnull=False)
        .exclude(Exists(open_messages))
        .update(status=CampaignStatus.DONE, finished_at=now, updated_at=now)
    )


def drain(*, now: datetime | None = None, merchant_id: int | None = None) -> int:
    """Send what each merchant's channels allow now. Returns how many messages were sent."""
    now = now or timezone.now()
    fail_stale_claims(now)
    queued = Message.objects.filter(status=MessageStatus.QUEUED)
    if merchant_id is not None:
        queued = queued.filter(merchant_id=merchant_id)
    pairs = list(queued.order_by().values_list("merchant_id", "channel").distinct())
    sent = 0
    for merchant, channel in pairs:
        ids = claim(merchant_id=merchant, channel=channel, now=now)
        if ids:
            sent += send_claimed(ids=ids, row=services.settings_for(merchant), now=now)
    finish_campaigns(now)
    return sent


def due_campaigns(now: datetime) -> list[int]:
    """Scheduled campaigns whose time has come, and queueings interrupted half-way."""
    due = Campaign.objects.filter(status=CampaignStatus.SCHEDULED, scheduled_at__lte=now)
    stale = Campaign.objects.filter(
        status=CampaignStatus.SENDING, queued_at__isnull=True, updated_at__lt=now - services.STALE_QUEUEING
    )
    return list(due.values_list("pk", flat=True)) + list(stale.values_list("pk", flat=True))
