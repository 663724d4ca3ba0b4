"""C4 in the back office: upload → mapping → dry run → apply, the error report downloads, and that
nobody sees or touches another merchant's imports (A1, B1)."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook
from tests.factories import staff_user

from tessera.imports import services
from tessera.imports.fields import FIELDS
from tessera.imports.models import ImportJob, ImportState
from tessera.imports.tests.factories import csv_upload
from tessera.members.models import Member

pytestmark = pytest.mark.django_db

ROWS = [
    ["SĐT", "Họ và tên", "Điểm"],
    ["0912 345 678", "Nguyễn Văn An", "100"],
    ["=1+1", "Bad phone", ""],
    ["0903123456", "王小明", "12.5"],
]


@pytest.fixture
def admin_client(client, merchant):
    client.force_login(staff_user(merchant, "merchant_admin").user)
    return client


@pytest.fixture
def checked_job(merchant, django_capture_on_commit_callbacks):
    admin = staff_user(merchant, "merchant_admin").user
    job = services.upload_import(merchant=merchant, upload=csv_upload(ROWS), actor=admin)
    with django_capture_on_commit_callbacks(execute=True):
        services.check_import(
            job=job, mapping=job.mapping, mode="skip_bad_rows", duplicate_policy="skip", actor=admin
        )
    job.refresh_from_db()
    return job


def test_c4_upload_map_check_and_apply_through_the_pages(
    admin_client, merchant, django_capture_on_commit_callbacks
):
    response = admin_client.post(reverse("imports:list"), {"file": csv_upload(ROWS)})
    job = ImportJob.objects.get(merchant=merchant)
    assert response.status_code == 302 and response.url == reverse("imports:mapping", args=[job.pk])

    page = admin_client.get(reverse("imports:mapping", args=[job.pk]))
    assert page.status_code == 200
    assert "0912 345 678" in page.content.decode()  # the first values are shown beside the choices

    form = {
        "col_0": "phone",
        "col_1": "full_name",
        "col_2": "points",
        "mode": "skip_bad_rows",
        "duplicate_policy": "skip",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("imports:mapping", args=[job.pk]), form)
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.state, job.valid_rows, job.invalid_rows) == (ImportState.VALIDATED, 1, 2)

    page = admin_client.get(reverse("imports:job", args=[job.pk])).content.decode()
    assert 'data-code="invalid_phone"' in page and 'data-code="points_not_whole"' in page
    progress = admin_client.get(reverse("imports:progress", args=[job.pk])).json()
    assert (progress["state"], progress["valid_rows"], progress["percent"]) == ("validated", 1, 100)

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("imports:apply", args=[job.pk]))
    job.refresh_from_db()
    assert job.state == ImportState.DONE
    assert list(Member.objects.of(merchant).values_list("full_name", flat=True)) == ["Nguyễn Văn An"]


def test_c4_the_error_report_downloads_as_csv_and_xlsx(client, checked_job, merchant):
    client.force_login(staff_user(merchant, "store_manager").user)  # may view, not import

    response = client.get(reverse("imports:errors", args=[checked_job.pk, "csv"]))
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert len(rows[0]) == 5  # row, column, value, code, message (headings in the staff's language)
    assert [(r[0], r[2], r[3]) for r in rows[1:]] == [
        ("3", "'=1+1", "invalid_phone"),
        ("4", "12.5", "points_not_whole"),
    ]

    response = client.get(reverse("imports:errors", args=[checked_job.pk, "xlsx"]))
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True).worksheets[0]
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[1][:4] == [3, "SĐT", "=1+1", "invalid_phone"]  # text, not a formula

    assert client.post(reverse("imports:apply", args=[checked_job.pk])).status_code == 403


def test_c4_another_merchants_staff_cannot_see_or_download_or_apply_an_import(
    client, checked_job, other_merchant
):
    client.force_login(staff_user(other_merchant, "merchant_admin").user)
    pk = checked_job.pk
    for url in (
        reverse("imports:job", args=[pk]),
        reverse("imports:mapping", args=[pk]),
        reverse("imports:progress", args=[pk]),
        reverse("imports:errors", args=[pk, "csv"]),
        reverse("imports:errors", args=[pk, "xlsx"]),
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("imports:apply", args=[pk])).status_code == 404
    assert client.post(reverse("imports:cancel", args=[pk])).status_code == 404
    listing = client.get(reverse("imports:list")).content.decode()
    assert checked_job.original_name not in listing
    checked_job.refresh_from_db()
    assert checked_job.state == ImportState.VALIDATED


def test_c4_staff_without_the_permission_get_no_import_pages(client, merchant):
    client.force_login(staff_user(merchant, "cashier").user)
    assert client.get(reverse("imports:list")).status_code == 403
    assert client.post(reverse("imports:list"), {"file": csv_upload(ROWS)}).status_code == 403
    assert not ImportJob.objects.exists()


def test_c4_a_bad_upload_is_shown_on_the_form(admin_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = admin_client.post(
        reverse("imports:list"), {"file": SimpleUploadedFile("old.xls", b"\xd0\xcf")}
    )
    assert response.status_code == 200
    assert "xlsx" in response.content.decode()
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize("language", ["vi", "zh-hans", "en"])
def test_c4_the_template_file_has_every_column_in_the_language_and_its_headers_map_back(
    admin_client, language
):
    response = admin_client.get(reverse("imports:template", args=[language]))

    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True).active
    header, example = list(sheet.iter_rows(values_only=True))[:2]
    assert services.suggest_mapping(list(header)) == {h: f.name for h, f in zip(header, FIELDS, strict=True)}
    assert "0912 345 678" in example
    assert admin_client.get(reverse("imports:template", args=["fr"])).status_code == 404
