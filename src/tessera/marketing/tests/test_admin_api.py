"""The back office and API of messaging: templates with preview, campaigns launched, cancelled and
retried from their page, channel settings with a write-only key — and none of it across merchants
(I1–I4, A1, B1)."""

from __future__ import annotations

import json
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from tests.factories import MemberFactory, StoreFactory, staff_user

from tessera.marketing import services
from tessera.marketing.models import (
    Campaign,
    CampaignStatus,
    ChannelSettings,
    Holiday,
    Message,
    MessageStatus,
    MessageTemplate,
    NoticeRule,
    Trigger,
)
from tessera.marketing.tests.factories import TemplateFactory
from tessera.members.services import save_segment
from tessera.tenancy.services import create_api_key

pytestmark = pytest.mark.django_db


def login(client, merchant, role="merchant_admin"):
    client.force_login(staff_user(merchant, role).user)
    return client


@pytest.fixture
def en_merchant(merchant):
    """The back office in English, so pages can be asserted in the catalogue's source language."""
    merchant.default_language = "en"
    merchant.save()
    return merchant


def test_i1_creating_a_template_shows_its_preview_and_sms_part_count(client, en_merchant):
    login(client, en_merchant, "marketing")

    response = client.post(
        reverse("admin:marketing_messagetemplate_add"),
        {
            "name": "Sinh nhật",
            "channel": "sms",
            "body_vi": "Chúc mừng sinh nhật {{ name }}! Quà của bạn: mã {{ code }}.",
            "_continue": "1",
        },
    )

    template = MessageTemplate.objects.get()
    assert response.status_code == 302 and template.merchant == en_merchant
    page = client.get(reverse("admin:marketing_messagetemplate_change", args=[template.pk])).content.decode()
    assert "Chúc mừng sinh nhật Nguyễn Thị Minh Khai! Quà của bạn: mã TET2026." in page
    assert "UCS-2: 66 characters, 1 SMS part(s) of up to 70." in page


def test_i1_a_template_with_an_unknown_variable_is_refused_with_the_allowed_list(client, en_merchant):
    login(client, en_merchant)

    response = client.post(
        reverse("admin:marketing_messagetemplate_add"),
        {"name": "Sai", "channel": "sms", "body_vi": "Chào {{ ten_khach }}"},
    )

    assert response.status_code == 200 and not MessageTemplate.objects.exists()
    page = response.content.decode()
    assert "Unknown variable(s): {{ ten_khach }}" in page and "{{ name }}" in page


def test_i1_a_campaign_is_created_from_an_uploaded_list_launched_and_its_recipients_listed(
    client, en_merchant, sms_log, django_capture_on_commit_callbacks
):
    template = TemplateFactory(merchant=en_merchant, body_vi="Chào {{ name }}")
    MemberFactory(merchant=en_merchant, full_name="Có", phone="+84909000001", marketing_sms=True)
    MemberFactory(merchant=en_merchant, full_name="Không", phone="+84909000002", marketing_sms=False)
    login(client, en_merchant, "marketing")
    upload = SimpleUploadedFile("list.csv", b"0909000001\n0909000002\n", content_type="text/csv")

    created = client.post(
        reverse("admin:marketing_campaign_add"),
        {
            "name": "Thử",
            "template": template.pk,
            "audience": "list",
            "phone_list": upload,
            "throttle_per_minute": 0,
        },
    )
    campaign = Campaign.objects.get()
    assert created.status_code == 302 and campaign.phones == ["+84909000001", "+84909000002"]
    detail = client.get(reverse("admin:marketing_campaign_change", args=[campaign.pk])).content.decode()
    assert "2 members, 1 of whom accept marketing on this channel" in detail

    launch_url = reverse("admin:marketing_campaign_launch_page", args=[campaign.pk])
    assert client.get(launch_url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        client.post(launch_url)

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE and sms_log.phones() == ["+84909000001"]
    listing = client.get(reverse("admin:marketing_message_changelist"), {"campaign__id__exact": campaign.pk})
    rows = {m.to: m.status for m in listing.context["cl"].result_list}
    assert rows == {"+84909000001": MessageStatus.SENT, "+84909000002": MessageStatus.SKIPPED_NO_CONSENT}


def test_i1_cancel_and_retry_from_the_campaign_page(client, en_merchant, sms_log):
    template = TemplateFactory(merchant=en_merchant)
    segment = save_segment(merchant=en_merchant, name="All", filters={})
    campaign = services.create_campaign(merchant=en_merchant, name="C", template=template, segment=segment)
    login(client, en_merchant, "marketing")

    client.post(reverse("admin:marketing_campaign_cancel_page", args=[campaign.pk]))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED

    response = client.post(reverse("admin:marketing_campaign_retry_page", args=[campaign.pk]), follow=True)
    assert "Only a sent campaign has failed messages to retry." in response.content.decode()


def test_b1_a_cashier_sees_no_marketing_and_cannot_launch(client, merchant, sms_template):
    segment = save_segment(merchant=merchant, name="All", filters={})
    campaign = services.create_campaign(merchant=merchant, name="C", template=sms_template, segment=segment)
    login(client, merchant, "cashier")

    assert client.get(reverse("admin:marketing_campaign_changelist")).status_code == 403
    assert client.post(reverse("admin:marketing_campaign_launch_page", args=[campaign.pk])).status_code in (
        302,
        403,
    )
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_i1_the_provider_key_is_write_only_and_the_receipt_address_is_shown(client, en_merchant):
    login(client, en_merchant)

    entry = client.get(reverse("admin:marketing_channelsettings_changelist"))
    row = ChannelSettings.objects.get(merchant=en_merchant)
    assert entry.status_code == 302 and entry.url == reverse(
        "admin:marketing_channelsettings_change", args=[row.pk]
    )
    client.post(
        entry.url,
        {
            "sms_provider": "http",
            "sms_api_url": "https://sms.example.vn/v1/send",
            "api_key": "sk_live_secret",
            "sms_sender": "PHO",
            "sms_rate_per_minute": 120,
            "email_from": "",
            "email_from_name": "",
            "email_rate_per_minute": 300,
            "greeting_hour": 9,
        },
    )

    row.refresh_from_db()
    assert (row.sms_provider, row.sms_api_key, row.sms_rate_per_minute) == ("http", "sk_live_secret", 120)
    page = client.get(entry.url).content.decode()
    assert "sk_live_secret" not in page and str(row.receipt_token) in page and row.receipt_secret in page

    old = row.receipt_secret
    client.post(reverse("admin:marketing_channelsettings_rotate_secret", args=[row.pk]))
    row.refresh_from_db()
    assert row.receipt_secret != old


def test_a1_another_merchants_staff_cannot_see_or_act_on_campaigns_messages_or_settings(
    client, merchant, other_merchant, sms_template, sms_log
):
    segment = save_segment(merchant=merchant, name="All", filters={})
    campaign = services.create_campaign(
        merchant=merchant, name="Secret campaign A", template=sms_template, segment=segment
    )
    message = services.send_to_member(
        member=MemberFactory(merchant=merchant), template=sms_template, trigger=Trigger.API, marketing=False
    )
    holiday = Holiday.objects.create(
        merchant=merchant, name="Tết", calendar="lunar", month=1, day=1, template=sms_template
    )
    rule = NoticeRule.objects.create(merchant=merchant, kind="after_sale", template=sms_template)
    row = services.settings_for(merchant)
    login(client, other_merchant)

    for url in [
        reverse("admin:marketing_campaign_change", args=[campaign.pk]),
        reverse("admin:marketing_message_change", args=[message.pk]),
        reverse("admin:marketing_messagetemplate_change", args=[sms_template.pk]),
        reverse("admin:marketing_holiday_change", args=[holiday.pk]),
        reverse("admin:marketing_noticerule_change", args=[rule.pk]),
        reverse("admin:marketing_channelsettings_change", args=[row.pk]),
        reverse("admin:marketing_campaign_messages_link", args=[campaign.pk]),
    ]:
        assert client.get(url).status_code == 404, url
    for url in [
        reverse("admin:marketing_campaign_launch_page", args=[campaign.pk]),
        reverse("admin:marketing_campaign_cancel_page", args=[campaign.pk]),
        reverse("admin:marketing_campaign_retry_page", args=[campaign.pk]),
        reverse("admin:marketing_channelsettings_rotate_secret", args=[row.pk]),
    ]:
        assert client.post(url).status_code == 404, url
    for name in ["campaign", "message", "messagetemplate", "holiday", "noticerule"]:
        listing = client.get(reverse(f"admin:marketing_{name}_changelist"))
        assert listing.status_code == 200 and list(listing.context["cl"].result_list) == [], name
        assert "Secret campaign A" not in listing.content.decode(), name  # not even in a filter
    campaign.refresh_from_db()
    row.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT and Message.objects.count() == 1
    # The other merchant's own settings page is theirs, not A's.
    own = client.get(reverse("admin:marketing_channelsettings_changelist"))
    assert own.url != reverse("admin:marketing_channelsettings_change", args=[row.pk])


def test_b1_a_campaign_cannot_use_another_merchants_template_or_segment(client, merchant, other_merchant):
    theirs = TemplateFactory(merchant=other_merchant)
    their_segment = save_segment(merchant=other_merchant, name="Theirs", filters={})
    login(client, merchant, "marketing")

    response = client.post(
        reverse("admin:marketing_campaign_add"),
        {"name": "X", "template": theirs.pk, "audience": "segment", "segment": their_segment.pk},
    )

    assert response.status_code == 200 and not Campaign.objects.exists()


def test_i3_holidays_list_their_next_date_and_refuse_impossible_dates(client, en_merchant):
    template = TemplateFactory(merchant=en_merchant)
    login(client, en_merchant, "marketing")

    bad = client.post(
        reverse("admin:marketing_holiday_add"),
        {"name": "X", "calendar": "solar", "month": 2, "day": 30, "template": template.pk, "is_active": "on"},
    )
    assert bad.status_code == 200 and "This day does not exist in that month." in bad.content.decode()
    client.post(
        reverse("admin:marketing_holiday_add"),
        {
            "name": "Tết",
            "calendar": "lunar",
            "month": 1,
            "day": 1,
            "template": template.pk,
            "is_active": "on",
        },
    )
    assert Holiday.objects.get().merchant == en_merchant
    assert client.get(reverse("admin:marketing_holiday_changelist")).status_code == 200


# --- API -------------------------------------------------------------------------------------------------


@pytest.fixture
def api(merchant):
    store = StoreFactory(merchant=merchant)
    return Client(
        HTTP_AUTHORIZATION=f"Bearer {create_api_key(merchant=merchant, name='POS', store=store).raw_key}"
    )


@pytest.fixture
def other_api(other_merchant):
    store = StoreFactory(merchant=other_merchant)
    return Client(
        HTTP_AUTHORIZATION=f"Bearer {create_api_key(merchant=other_merchant, name='B', store=store).raw_key}"
    )


def _send(api, body, key=None):
    return api.post(
        "/api/v1/marketing/messages",
        json.dumps(body),
        content_type="application/json",
        headers={"Idempotency-Key": key or str(uuid.uuid4())},
    )


def test_i1_an_integration_sends_one_message_and_reads_its_status(api, merchant, sms_template, sms_log):
    member = MemberFactory(merchant=merchant, full_name="An", marketing_sms=False)

    sent = _send(
        api, {"member_id": member.pk, "template_id": sms_template.pk, "code": "X1", "reference": "order-7"}
    )
    marketing = _send(api, {"member_id": member.pk, "template_id": sms_template.pk, "purpose": "marketing"})

    assert sent.status_code == 202 and sent.json()["status"] == "queued"
    status = api.get(f"/api/v1/marketing/messages/{sent.json()['id']}").json()
    assert (status["status"], status["trigger"], status["trigger_ref"], status["parts"]) == (
        "sent",
        "api",
        "order-7",
        1,
    )
    assert sms_log.messages()[0]["text"] == "Chào An! Mã: X1"
    assert marketing.json()["status"] == "skipped_no_consent"
    again = _send(api, {"member_id": member.pk, "template_id": sms_template.pk, "reference": "order-7"})
    assert again.json()["id"] == sent.json()["id"] and len(sms_log.messages()) == 1


def test_a1_another_merchants_key_can_neither_read_nor_send_with_the_first_merchants_data(
    api, other_api, merchant, sms_template, sms_log
):
    member = MemberFactory(merchant=merchant)
    message_id = _send(api, {"member_id": member.pk, "template_id": sms_template.pk}).json()["id"]

    assert other_api.get(f"/api/v1/marketing/messages/{message_id}").status_code == 404
    refused = _send(other_api, {"member_id": member.pk, "template_id": sms_template.pk})
    assert refused.status_code == 404 and refused.json()["code"] == "member_not_found"
    assert Message.objects.count() == 1


def test_b1_the_marketing_role_sees_the_channel_settings_but_not_the_receipt_secret(client, en_merchant):
    row = services.settings_for(en_merchant)
    secret = row.receipt_secret
    login(client, en_merchant, "marketing")

    page = client.get(reverse("admin:marketing_channelsettings_change", args=[row.pk]))

    assert page.status_code == 200 and str(row.receipt_token) in page.content.decode()
    assert row.receipt_secret not in page.content.decode()
    assert client.post(
        reverse("admin:marketing_channelsettings_rotate_secret", args=[row.pk])
    ).status_code in (
        302,
        403,
    )
    row.refresh_from_db()
    assert row.receipt_secret == secret
