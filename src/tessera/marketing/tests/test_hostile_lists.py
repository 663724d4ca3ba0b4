"""A campaign's uploaded list of phones is read as member imports read their files (I1, issue 12):
hostile workbooks are refused on the form, and no campaign is created."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from tests.factories import staff_user

from tessera.imports.tests import hostile
from tessera.marketing import services
from tessera.marketing.models import Campaign
from tessera.marketing.tests.factories import TemplateFactory

pytestmark = pytest.mark.django_db


def _create(client, merchant, content: bytes):
    merchant.default_language = "en"
    merchant.save()
    client.force_login(staff_user(merchant, "marketing").user)
    upload = SimpleUploadedFile("list.xlsx", content)
    return client.post(
        reverse("admin:marketing_campaign_add"),
        {
            "name": "Tết",
            "template": TemplateFactory(merchant=merchant).pk,
            "audience": "list",
            "phone_list": upload,
            "throttle_per_minute": 0,
        },
    )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (hostile.with_entities, "XML entity declarations, which are refused"),
        (lambda: hostile.with_shared_text(200, 2**20), "This workbook holds 200 MB of text; at most 128 MB"),
        (
            lambda: hostile.with_declared_size("xl/worksheets/sheet1.xml", 3 * 2**30),
            "Unpacked, this workbook holds",
        ),
    ],
    ids=["entities", "shared-text", "zip-bomb"],
)
def test_i1_a_hostile_workbook_as_a_phone_list_is_refused_on_the_form(client, merchant, build, message):
    response = _create(client, merchant, build())

    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors["phone_list"])
    assert not Campaign.objects.exists()


def test_i1_a_workbook_phone_list_still_creates_a_campaign(client, merchant):
    content = hostile.xlsx_bytes([["Phone"], ["0909000001"], ["0909000002"]])

    response = _create(client, merchant, content)

    assert response.status_code == 302
    assert Campaign.objects.get().phones == ["+84909000001", "+84909000002"]


def test_i1_a_phone_list_file_over_the_size_limit_is_refused_before_it_is_read(client, merchant, monkeypatch):
    monkeypatch.setattr(services, "MAX_LIST_FILE_BYTES", 2**20)
    read = []
    monkeypatch.setattr(services, "read_phone_list", lambda **kwargs: read.append(kwargs) or [])

    response = _create(client, merchant, b"0909000001\n" * 100_000)

    assert "The file is larger than 1 MB." in response.context["adminform"].form.errors["phone_list"]
    assert read == [] and not Campaign.objects.exists()
