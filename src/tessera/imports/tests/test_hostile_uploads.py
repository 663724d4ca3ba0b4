"""Hostile workbooks uploaded through the back-office import page (C4, issue 12): refused with a clear
message, no job, nothing left in the media folder; and the upload request never reads a whole workbook."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from tests.factories import staff_user

from tessera.imports.models import ImportJob, ImportState
from tessera.imports.tests import hostile

pytestmark = pytest.mark.django_db

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def admin_client(client, merchant):
    merchant.default_language = "en"  # messages asserted in the catalogue's source language
    merchant.save()
    client.force_login(staff_user(merchant, "merchant_admin").user)
    return client


def _upload(client, content: bytes, name: str = "members.xlsx"):
    return client.post(
        reverse("imports:list"), {"file": SimpleUploadedFile(name, content, content_type=XLSX)}
    )


def _stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def _refused(response) -> str:
    assert response.status_code == 200
    return " ".join(response.context["form"].errors["file"])


def test_openpyxl_parses_through_defusedxml():
    assert openpyxl.DEFUSEDXML is True


@pytest.mark.parametrize(
    "part", ["xl/sharedStrings.xml", "xl/worksheets/sheet1.xml", "xl/workbook.xml", "[Content_Types].xml"]
)
def test_c4_a_workbook_with_entity_declarations_is_refused_and_nothing_is_kept(admin_client, settings, part):
    response = _upload(admin_client, hostile.with_entities(part))

    assert "XML entity declarations, which are refused" in _refused(response)
    assert not ImportJob.objects.exists()
    assert _stored_files(settings) == []


def test_c4_a_workbook_with_too_much_shared_text_is_refused_before_it_is_read(admin_client, settings):
    settings.IMPORT_MAX_SHARED_STRINGS_BYTES = 2 * 2**20
    content = hostile.with_shared_text(30, 100_000)  # 3 MB of text in a 10 KB file
    assert len(content) < 20_000

    response = _upload(admin_client, content)

    assert "This workbook holds 3 MB of text; at most 2 MB can be imported" in _refused(response)
    assert not ImportJob.objects.exists()
    assert _stored_files(settings) == []


def test_c4_the_issue_s_200_megabytes_of_shared_strings_are_refused_with_the_default_limit(
    admin_client, settings
):
    content = hostile.with_shared_text(200, 2**20)
    assert len(content) < 300_000

    tracemalloc.start()
    try:
        response = _upload(admin_client, content)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert "This workbook holds 200 MB of text; at most 128 MB can be imported" in _refused(response)
    assert peak < 20 * 2**20
    assert not ImportJob.objects.exists() and _stored_files(settings) == []


def test_c4_a_zip_bomb_is_refused_from_its_declared_size_before_anything_is_stored(admin_client, settings):
    content = hostile.with_declared_size("xl/worksheets/sheet1.xml", 3 * 2**30)

    response = _upload(admin_client, content)

    assert "Unpacked, this workbook holds 3,072 MB; at most 1,024 MB can be imported" in _refused(response)
    assert not ImportJob.objects.exists()
    assert _stored_files(settings) == []


def test_c4_a_workbook_that_unpacks_beyond_the_limit_is_refused(admin_client, settings):
    settings.IMPORT_MAX_UNPACKED_BYTES = 4 * 2**20
    content = hostile.with_padding("xl/worksheets/sheet1.xml", 6 * 2**20)
    assert len(content) < 50_000

    response = _upload(admin_client, content)

    assert "at most 4 MB can be imported: split it, or save it as CSV." in _refused(response)
    assert not ImportJob.objects.exists() and _stored_files(settings) == []


@pytest.mark.parametrize("part", ["xl/styles.xml", "xl/workbook.xml"])
def test_c4_a_part_read_whole_that_unpacks_beyond_its_limit_is_refused(admin_client, settings, part):
    content = hostile.with_big_part(part, 40 * 2**20)  # 40 MB of blanks in a 50 KB file

    response = _upload(admin_client, content)

    assert f"A part of this workbook ({part}) unpacks to 40 MB; at most 32 MB are read." in _refused(response)
    assert not ImportJob.objects.exists() and _stored_files(settings) == []


def test_c4_uploading_and_mapping_read_only_the_head_of_a_workbook(admin_client, merchant, settings):
    """30 MB of shared strings under the limit: the upload and the mapping page read the header and
    the first rows without loading them; the whole file is read by the worker's dry run."""
    _upload(admin_client, hostile.xlsx_bytes(), name="warm-up.xlsx")  # imports and templates loaded
    ImportJob.objects.all().delete()
    content = hostile.with_shared_text(30, 2**20)

    tracemalloc.start()
    try:
        response = _upload(admin_client, content)
        job = ImportJob.objects.get(merchant=merchant)
        page = admin_client.get(reverse("imports:mapping", args=[job.pk]))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert response.status_code == 302 and response.url == reverse("imports:mapping", args=[job.pk])
    assert job.headers == ["SĐT", "Họ và tên"]
    assert "Nguyễn Văn An" in page.content.decode()  # the first values are shown beside the choices
    assert peak < 8 * 2**20  # loading the shared strings would take over 30 MB


def test_c4_a_normal_workbook_still_uploads_checks_and_applies(
    admin_client, merchant, settings, django_capture_on_commit_callbacks
):
    response = _upload(admin_client, hostile.xlsx_bytes())
    job = ImportJob.objects.get(merchant=merchant)
    assert response.status_code == 302 and len(_stored_files(settings)) == 1

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("imports:mapping", args=[job.pk]),
            {"col_0": "phone", "col_1": "full_name", "mode": "skip_bad_rows", "duplicate_policy": "skip"},
        )
    job.refresh_from_db()

    assert (job.state, job.valid_rows, job.invalid_rows) == (ImportState.VALIDATED, 2, 0)
