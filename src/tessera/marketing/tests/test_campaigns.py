"""I1, I4: campaigns to a segment or a list, consent, schedule, throttle, cancel, retry, never twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from tests.factories import MemberFactory

from tessera.core import sms
from tessera.core.errors import Conflict, ValidationFailed
from tessera.core.sms import SmsSendError
from tessera.marketing import delivery, services
from tessera.marketing.models import Campaign, CampaignStatus, Message, MessageStatus, Trigger
from tessera.members.services import save_segment

pytestmark = pytest.mark.django_db


def _campaign(merchant, template, **kwargs):
    segment = kwargs.pop("segment", None)
    if segment is None and "phones" not in kwargs:
        segment = save_segment(merchant=merchant, name="Tất cả", filters={})
    return services.create_campaign(
        merchant=merchant, name="Tết", template=template, segment=segment, **kwargs
    )


def _statuses(campaign):
    return {
        m.member.full_name if m.member else m.to: m.status for m in Message.objects.filter(campaign=campaign)
    }


def test_i4_only_consenting_current_members_get_a_campaign_and_the_rest_are_traced_as_skipped(
    merchant, sms_template, audience, sms_log, django_capture_on_commit_callbacks
):
    campaign = _campaign(merchant, sms_template, code="TET2026")

    with django_capture_on_commit_callbacks(execute=True):
        services.launch_campaign(campaign=campaign)

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE and campaign.audience_size == 5
    assert _statuses(campaign) == {
        "Khách 0": MessageStatus.SENT,
        "Khách 1": MessageStatus.SENT,
        "Khách 2": MessageStatus.SENT,
        "Không đồng ý": MessageStatus.SKIPPED_NO_CONSENT,
        "Bị loại": MessageStatus.SKIPPED_NO_CONSENT,
    }
    assert sorted(sms_log.phones()) == ["+84901000000", "+84901000001", "+84901000002"]
    texts = {m["phone"]: m["text"] for m in sms_log.messages()}
    assert texts["+84901000001"] == "Chào Khách 1! Mã: TET2026"
    sent = Message.objects.get(member=audience["yes"][0])
    assert (sent.trigger, sent.campaign_id, sent.parts, sent.attempts) == (
        Trigger.CAMPAIGN,
        campaign.pk,
        1,
        1,
    )
    assert sent.provider_message_id.startswith("file-") and sent.sent_at is not None
    skipped = Message.objects.get(member=audience["no"])
    assert skipped.body == "" and skipped.error == "no marketing consent for this channel"


def test_i1_an_uploaded_list_reaches_members_by_phone_and_records_unknown_phones_as_skipped(
    merchant, sms_template, audience, sms_log
):
    content = b"phone\n0901000000\n0901 000 009\n0987654321\n0901000000\n"
    phones = services.read_phone_list(merchant=merchant, name="tet.csv", content=content)
    assert phones == ["+84901000000", "+84901000009", "+84987654321"]
    campaign = _campaign(merchant, sms_template, phones=phones, list_name="tet.csv")
    services.launch_campaign(campaign=campaign)

    services.queue_campaign(campaign_id=campaign.pk)
    delivery.drain()

    assert _statuses(campaign) == {
        "Khách 0": MessageStatus.SENT,
        "Không đồng ý": MessageStatus.SKIPPED_NO_CONSENT,
        "+84987654321": MessageStatus.SKIPPED_NO_CONSENT,
    }
    assert sms_log.phones() == ["+84901000000"]


def test_i1_a_list_with_lines_that_are_not_phones_is_refused_with_their_line_numbers(merchant):
    with pytest.raises(ValidationFailed) as refused:
        services.read_phone_list(merchant=merchant, name="x.csv", content=b"phone\n0901000000\nhello\n12\n")
    assert refused.value.code == "invalid_list" and refused.value.detail["lines"] == [3, 4]


def test_i1_a_list_saved_by_excel_as_unicode_text_is_read_like_an_import_file(merchant):
    content = "Điện thoại\tHọ tên\n0901 000 000\tAn\n+84 90 100 0001\tBình\n".encode("utf-16")

    phones = services.read_phone_list(merchant=merchant, name="danh-sach.txt", content=content)

    assert phones == ["+84901000000", "+84901000001"]


def test_i1_an_xlsx_list_is_read_including_numbers_excel_stripped_of_their_leading_zero(merchant):
    import io

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Điện thoại"])
    sheet.append([901000000])
    sheet.append(["+84 90 100 0001"])
    buffer = io.BytesIO()
    book.save(buffer)

    phones = services.read_phone_list(merchant=merchant, name="list.XLSX", content=buffer.getvalue())

    assert phones == ["+84901000000", "+84901000001"]


def test_i1_a_scheduled_campaign_waits_for_its_time(merchant, sms_template, audience, sms_log):
    now = timezone.now()
    campaign = _campaign(merchant, sms_template, scheduled_at=now + timedelta(hours=2))
    services.launch_campaign(campaign=campaign, now=now)
    assert campaign.status == CampaignStatus.SCHEDULED

    assert delivery.due_campaigns(now + timedelta(hours=1)) == []
    assert services.queue_campaign(campaign_id=campaign.pk, now=now + timedelta(hours=1)) == 0
    assert delivery.due_campaigns(now + timedelta(hours=2)) == [campaign.pk]

    assert services.queue_campaign(campaign_id=campaign.pk, now=now + timedelta(hours=2)) == 5
    assert services.queue_campaign(campaign_id=campaign.pk, now=now + timedelta(hours=2)) == 0  # claimed once
    delivery.drain(now=now + timedelta(hours=2))
    assert len(sms_log.messages()) == 3


def test_i1_sending_respects_the_channel_rate_and_the_campaign_throttle(merchant, sms_template, sms_log):
    for i in range(10):
        MemberFactory(merchant=merchant, phone=f"+8490200000{i}", marketing_sms=True)
    row = services.settings_for(merchant)
    row.sms_rate_per_minute = 6
    row.save()
    now = timezone.now()
    campaign = _campaign(merchant, sms_template, throttle_per_minute=4)
    services.launch_campaign(campaign=campaign, now=now)
    services.queue_campaign(campaign_id=campaign.pk, now=now)

    assert delivery.drain(now=now) == 4  # the campaign's throttle
    assert delivery.drain(now=now + timedelta(seconds=30)) == 0  # still within the minute
    assert delivery.drain(now=now + timedelta(seconds=61)) == 4
    Campaign.objects.filter(pk=campaign.pk).update(throttle_per_minute=0)
    assert delivery.drain(now=now + timedelta(seconds=122)) == 2  # the rest, under the channel's 6
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE
    assert len(sms_log.messages()) == 10


def test_i1_the_channel_rate_is_shared_by_notices_and_campaigns_notices_first(
    merchant, sms_template, sms_log
):
    members = [
        MemberFactory(merchant=merchant, phone=f"+8490300000{i}", marketing_sms=True) for i in range(5)
    ]
    row = services.settings_for(merchant)
    row.sms_rate_per_minute = 3
    row.save()
    now = timezone.now()
    campaign = _campaign(merchant, sms_template)
    services.launch_campaign(campaign=campaign, now=now)
    services.queue_campaign(campaign_id=campaign.pk, now=now)
    notice = services.send_to_member(
        member=members[0], template=sms_template, trigger=Trigger.API, marketing=False, now=now
    )

    assert delivery.drain(now=now) == 3

    notice.refresh_from_db()
    assert notice.status == MessageStatus.SENT
    assert Message.objects.filter(campaign=campaign, status=MessageStatus.SENT).count() == 2


def test_i1_cancelling_stops_what_is_not_yet_sent(merchant, sms_template, sms_log):
    for i in range(5):
        MemberFactory(merchant=merchant, phone=f"+8490400000{i}", marketing_sms=True)
    now = timezone.now()
    campaign = _campaign(merchant, sms_template, throttle_per_minute=2)
    services.launch_campaign(campaign=campaign, now=now)
    services.queue_campaign(campaign_id=campaign.pk, now=now)
    delivery.drain(now=now)

    services.cancel_campaign(campaign=campaign, now=now)

    assert delivery.drain(now=now + timedelta(minutes=5)) == 0
    counts = {s: Message.objects.filter(campaign=campaign, status=s).count() for s in MessageStatus.values}
    assert (counts["sent"], counts["cancelled"], counts["queued"]) == (2, 3, 0)
    assert campaign.status == CampaignStatus.CANCELLED
    with pytest.raises(Conflict):
        services.cancel_campaign(campaign=campaign)
    with pytest.raises(Conflict):
        services.launch_campaign(campaign=campaign)


class FlakyBackend:
    """Refuses the numbers in `refuse`; counts every number it is asked to send to."""

    calls: list[str] = []
    refuse: set[str] = set()

    def send(self, message):
        FlakyBackend.calls.append(message.phone)
        if message.phone in FlakyBackend.refuse:
            raise SmsSendError("HTTP 503")
        return f"flaky-{len(FlakyBackend.calls)}"


@pytest.fixture
def flaky(settings, monkeypatch):
    monkeypatch.setitem(sms.BACKENDS, "flaky", FlakyBackend)
    settings.SMS_BACKEND = "flaky"
    FlakyBackend.calls, FlakyBackend.refuse = [], set()
    return FlakyBackend


def test_i1_retrying_a_campaign_sends_only_its_failed_messages_again(merchant, sms_template, flaky):
    members = [
        MemberFactory(merchant=merchant, phone=f"+8490500000{i}", marketing_sms=True) for i in range(3)
    ]
    flaky.refuse = {"+84905000001"}
    campaign = _campaign(merchant, sms_template)
    services.launch_campaign(campaign=campaign)
    services.queue_campaign(campaign_id=campaign.pk)
    delivery.drain()
    campaign.refresh_from_db()
    failed = Message.objects.get(member=members[1])
    assert (failed.status, failed.error, campaign.status) == (
        MessageStatus.FAILED,
        "HTTP 503",
        CampaignStatus.DONE,
    )

    flaky.refuse = set()
    assert services.retry_failed(campaign=campaign) == 1
    assert campaign.status == CampaignStatus.SENDING
    delivery.drain()

    failed.refresh_from_db()
    campaign.refresh_from_db()
    assert (failed.status, failed.attempts, failed.error) == (MessageStatus.SENT, 2, "")
    assert campaign.status == CampaignStatus.DONE
    assert sorted(flaky.calls) == ["+84905000000", "+84905000001", "+84905000001", "+84905000002"]


def test_i1_a_retried_send_task_never_sends_a_member_twice(merchant, sms_template, flaky):
    for i in range(4):
        MemberFactory(merchant=merchant, phone=f"+8490600000{i}", marketing_sms=True)
    now = timezone.now()
    campaign = _campaign(merchant, sms_template)
    services.launch_campaign(campaign=campaign, now=now)
    services.queue_campaign(campaign_id=campaign.pk, now=now)
    services.queue_campaign(campaign_id=campaign.pk, now=now)
    # A worker claims the messages and dies before sending them.
    claimed = delivery.claim(merchant_id=merchant.pk, channel="sms", now=now)
    assert len(claimed) == 4 and Message.objects.filter(campaign=campaign).count() == 4

    # The task is retried, and the periodic sweep runs too: nothing claimed is sent again.
    assert delivery.drain(now=now) == 0
    assert delivery.drain(now=now + timedelta(minutes=2)) == 0
    assert flaky.calls == []
    # Ten minutes on, the orphaned claims are marked failed, never resent by themselves.
    assert delivery.drain(now=now + delivery.STALE_CLAIM + timedelta(seconds=1)) == 0
    assert set(Message.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"failed"}
    assert flaky.calls == []


def test_i1_two_drains_sending_the_same_queue_send_each_message_once(merchant, sms_template, flaky):
    for i in range(6):
        MemberFactory(merchant=merchant, phone=f"+8490700000{i}", marketing_sms=True)
    now = timezone.now()
    campaign = _campaign(merchant, sms_template)
    services.launch_campaign(campaign=campaign, now=now)
    services.queue_campaign(campaign_id=campaign.pk, now=now)

    first = delivery.claim(merchant_id=merchant.pk, channel="sms", now=now)
    second = delivery.claim(merchant_id=merchant.pk, channel="sms", now=now)
    row = services.settings_for(merchant)
    delivery.send_claimed(ids=first, row=row, now=now)
    delivery.send_claimed(ids=first, row=row, now=now)  # the same task retried after it finished

    assert second == [] and len(first) == 6
    assert sorted(flaky.calls) == sorted(set(flaky.calls)) and len(flaky.calls) == 6


def test_i1_a_campaign_needs_exactly_one_audience(merchant, sms_template):
    with pytest.raises(ValidationFailed) as refused:
        services.create_campaign(merchant=merchant, name="x", template=sms_template)
    assert refused.value.code == "audience_required"
    assert not Campaign.objects.exists()


def test_b1_a_cashier_cannot_launch_a_campaign(merchant, sms_template):
    from tests.factories import staff_user

    from tessera.core.errors import PermissionDenied

    campaign = _campaign(merchant, sms_template)
    cashier = staff_user(merchant, "cashier").user

    with pytest.raises(PermissionDenied):
        services.launch_campaign(campaign=campaign, actor=cashier)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_rows_inserted_twice_in_one_transaction_are_written_once_each(merchant):
    """insert_rows stages rows (PostgreSQL: COPY into a temporary table); a second call in the same
    outer transaction writes only its own rows, not the first call's again."""
    from django.db import transaction

    def row(phone):
        return {
            "merchant_id": merchant.pk,
            "channel": "sms",
            "to": phone,
            "status": MessageStatus.SKIPPED_NO_CONSENT.value,
            "trigger": Trigger.API.value,
        }

    with transaction.atomic():
        assert services.insert_rows([row("+84900000001")]) == 1
        assert services.insert_rows([row("+84900000002"), row("+84900000003")]) == 2

    assert sorted(Message.objects.values_list("to", flat=True)) == [
        "+84900000001",
        "+84900000002",
        "+84900000003",
    ]


def test_issue16_queueing_a_campaign_shows_how_many_messages_are_ready_of_how_many(
    merchant, sms_template, audience, monkeypatch
):
    from django.contrib import admin

    from tessera.marketing import selectors

    campaign = _campaign(merchant, sms_template)
    services.launch_campaign(campaign=campaign)
    monkeypatch.setattr(services, "CHUNK", 2)
    seen = []
    queue = services.Batch.queue

    def queue_and_look(batch, rows, **kwargs):
        count = queue(batch, rows, **kwargs)
        seen.append(selectors.queueing_progress(Campaign.objects.get(pk=campaign.pk)))
        return count

    monkeypatch.setattr(services.Batch, "queue", queue_and_look)
    set_based = services.SetBased.queue

    def set_based_and_look(plan, members, on_chunk):  # PostgreSQL: one INSERT … SELECT per chunk
        def look():
            going = on_chunk()
            if seen or Message.objects.filter(campaign=campaign).exists():
                seen.append(selectors.queueing_progress(Campaign.objects.get(pk=campaign.pk)))
            return going

        count = set_based(plan, members, look)
        seen.append(selectors.queueing_progress(Campaign.objects.get(pk=campaign.pk)))
        return count

    monkeypatch.setattr(services.SetBased, "queue", set_based_and_look)
    assert selectors.queueing_progress(campaign) is None  # not yet being queued

    services.queue_campaign(campaign_id=campaign.pk)

    assert seen == [(2, 5), (4, 5), (5, 5)]
    campaign.refresh_from_db()
    assert selectors.queueing_progress(campaign) is None  # queued: the statuses tell the rest
    Campaign.objects.filter(pk=campaign.pk).update(queued_at=None)
    campaign.refresh_from_db()
    shown = admin.site.get_model_admin(Campaign).progress(campaign)
    assert shown.startswith("Preparing the messages: 5 of 5. ")
