"""The campaign form of the back office: links to create a template or segment in a popup, a preview of
the unsaved campaign (the text a member of the audience gets, SMS parts and cost), and drafts that stay
editable until launched (I1, I2, issue 14)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from tests.factories import MemberFactory, staff_user

from tessera.marketing import services
from tessera.marketing.models import Campaign, CampaignStatus, MessageTemplate
from tessera.marketing.tests.factories import TemplateFactory
from tessera.members.services import save_segment

pytestmark = pytest.mark.django_db


@pytest.fixture
def en_merchant(merchant):
    merchant.default_language = "en"
    merchant.save()
    return merchant


@pytest.fixture
def client_of(client, en_merchant):
    client.force_login(staff_user(en_merchant, "marketing").user)
    return client


def test_i1_the_campaign_form_links_to_creating_a_template_and_a_segment_in_a_popup(client_of):
    page = client_of.get(reverse("admin:marketing_campaign_add")).content.decode()

    assert f'href="{reverse("admin:marketing_messagetemplate_add")}?_to_field=id&amp;_popup=1"' in page
    assert f'href="{reverse("admin:members_segment_add")}?_to_field=id&amp;_popup=1"' in page
    assert "Create a message template" in page and "Create a segment" in page


def test_i1_a_template_created_in_the_popup_is_handed_back_to_the_campaign_form(client_of, en_merchant):
    response = client_of.post(
        reverse("admin:marketing_messagetemplate_add") + "?_to_field=id&_popup=1",
        {"name": "Tết", "channel": "sms", "body_en": "Hello {{ name }}", "_popup": "1", "_to_field": "id"},
    )

    template = MessageTemplate.objects.get(merchant=en_merchant, name="Tết")
    page = response.content.decode()
    assert response.status_code == 200 and "popup_response" in page
    assert f"&quot;value&quot;: &quot;{template.pk}&quot;" in page


def test_i2_preview_shows_a_members_message_its_sms_parts_and_cost_without_saving(client_of, en_merchant):
    settings_row = services.settings_for(en_merchant)
    settings_row.sms_part_price = 800
    settings_row.save()
    template = TemplateFactory(
        merchant=en_merchant,
        name="Sale",
        body_vi="Chào {{ name }}, mã {{ code }}",
        body_en="Hi {{ name }}, {{ code }}",
    )
    segment = save_segment(merchant=en_merchant, name="All", filters={})
    MemberFactory(merchant=en_merchant, full_name="Lan", phone="+84901000001", marketing_sms=True)
    MemberFactory(merchant=en_merchant, full_name="Minh", phone="+84901000002", marketing_sms=True)
    MemberFactory(merchant=en_merchant, full_name="Không", phone="+84901000003", marketing_sms=False)

    response = client_of.post(
        reverse("admin:marketing_campaign_add"),
        {
            "name": "Tết sale",
            "template": template.pk,
            "code": "TET26",
            "audience": "segment",
            "segment": segment.pk,
            "throttle_per_minute": 0,
            "_preview": "1",
        },
    )

    page = response.content.decode()
    assert response.status_code == 200 and not Campaign.objects.exists()
    assert "Chào Lan, mã TET26" in page and "Hi Lan, TET26" in page
    # English text, GSM-7: one part for each of the two consenting members, at 800 ₫ a part.
    assert "3 members in the audience, 2 of whom accept marketing on this channel and get it." in page
    assert "About 2 SMS parts, an estimated ₫1,600." in page
    assert 'value="Tết sale"' in page  # the form comes back filled in


def test_i2_without_a_price_the_preview_gives_parts_and_recipients_only(client_of, en_merchant):
    template = TemplateFactory(merchant=en_merchant, body_vi="", body_en="x" * 161)
    segment = save_segment(merchant=en_merchant, name="All", filters={})

    page = client_of.post(
        reverse("admin:marketing_campaign_add"),
        {
            "name": "C",
            "template": template.pk,
            "audience": "segment",
            "segment": segment.pk,
            "throttle_per_minute": 0,
            "_preview": "1",
        },
    ).content.decode()

    assert "Nobody in the audience yet: sample values are used for the variables." in page
    assert "GSM-7: 161 characters, 2 SMS part(s) of up to 153." in page
    assert "About 0 SMS parts. Set the price of one part in the channel settings" in page


def test_i1_a_draft_stays_editable_until_it_is_launched(client_of, en_merchant):
    template = TemplateFactory(merchant=en_merchant, name="A")
    other = TemplateFactory(merchant=en_merchant, name="B")
    segment = save_segment(merchant=en_merchant, name="All", filters={})
    campaign = services.create_campaign(
        merchant=en_merchant, name="Draft", template=template, segment=segment
    )
    url = reverse("admin:marketing_campaign_change", args=[campaign.pk])

    response = client_of.post(
        url,
        {
            "name": "Renamed",
            "template": other.pk,
            "audience": "segment",
            "segment": segment.pk,
            "code": "NEW",
            "throttle_per_minute": 5,
        },
    )

    campaign.refresh_from_db()
    assert response.status_code == 302
    assert (campaign.name, campaign.template_id, campaign.code, campaign.throttle_per_minute) == (
        "Renamed",
        other.pk,
        "NEW",
        5,
    )
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SCHEDULED)  # launched
    page = client_of.get(url).content.decode()
    assert 'name="name"' not in page and 'data-testid="preview-button"' not in page
    late = client_of.post(
        url, {"name": "Late", "template": template.pk, "audience": "segment", "segment": segment.pk}
    )
    campaign.refresh_from_db()
    assert late.status_code == 403 and campaign.name == "Renamed"


def test_i1_a_list_draft_keeps_its_phones_when_edited_without_a_new_file(client_of, en_merchant):
    template = TemplateFactory(merchant=en_merchant)
    campaign = services.create_campaign(
        merchant=en_merchant, name="List", template=template, phones=["+84909000001"], list_name="a.csv"
    )

    response = client_of.post(
        reverse("admin:marketing_campaign_change", args=[campaign.pk]),
        {"name": "List 2", "template": template.pk, "audience": "list", "throttle_per_minute": 0},
    )

    campaign.refresh_from_db()
    assert response.status_code == 302
    assert (campaign.name, campaign.phones, campaign.list_name) == ("List 2", ["+84909000001"], "a.csv")
