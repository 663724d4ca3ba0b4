"""Issue 16: Excel and PDF of long lists are built by a background job, with progress, a private file,
signed expiring download links for the requester and admins, a download log and a purge."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from tests.factories import MemberFactory, staff_user

from tessera.core import export_jobs, exports
from tessera.core.models import ExportDownload, ExportJob, ExportStatus
from tessera.core.tasks import purge_expired_exports

MEMBERS = reverse("admin:members_member_changelist")
MEMBERS_XLSX = reverse("admin:members_member_export_xlsx")
MEMBERS_PDF = reverse("admin:members_member_export_pdf")
MY_EXPORTS = reverse("exports:list")


@pytest.fixture(autouse=True)
def _private_storage_in_tmp(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "exports"), "base_url": None},
        },
    }
    settings.EXPORT_INLINE_ROWS = 2  # lists longer than two rows go to the background


def sign_in(client, staff) -> None:
    client.force_login(staff.user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def members(merchant, count: int) -> None:
    for number in range(count):
        MemberFactory(merchant=merchant, full_name=f"Member {number}", phone=f"+8490300{number:04d}")


@pytest.fixture
def finance(merchant):  # type: ignore[no-untyped-def]
    return staff_user(merchant, "finance")


@pytest.fixture
def built(client, merchant, finance, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """Three members exported to Excel by a finance user, the job run."""
    members(merchant, 3)
    sign_in(client, finance)
    with django_capture_on_commit_callbacks(execute=True):
        client.get(MEMBERS_XLSX, {"status__exact": "active"})
    return ExportJob.objects.get()


@pytest.mark.django_db
def test_a_long_lists_excel_is_queued_and_the_request_builds_no_file(
    client, merchant, finance, django_capture_on_commit_callbacks
):
    members(merchant, 3)
    sign_in(client, finance)

    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.get(MEMBERS_XLSX, {"status__exact": "active"})

    assert response.status_code == 302 and response["Location"] == MY_EXPORTS
    job = ExportJob.objects.get()
    assert (job.status, job.file, job.rows_total, job.rows_done) == (ExportStatus.QUEUED, "", 3, 0)
    assert (job.requester, job.merchant, job.format) == (finance.user, merchant, "xlsx")
    assert len(queued) == 1  # the job, run by huey after the commit
    page = client.get(MY_EXPORTS).content.decode()
    assert 'data-status="queued"' in page and "<progress" in page
    assert '<meta http-equiv="refresh"' in page  # the page follows the progress

    queued[0]()

    job.refresh_from_db()
    assert (job.status, job.rows_done, job.rows_total, job.sheets) == (ExportStatus.DONE, 3, 3, 1)
    with export_jobs.storage().open(job.file) as file:
        sheet = load_workbook(io.BytesIO(file.read())).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[1][0] == "Status: Active"
    assert sorted(r[1] for r in values[4:]) == ["Member 0", "Member 1", "Member 2"]


@pytest.mark.django_db
def test_a_short_lists_excel_still_downloads_at_once(client, merchant, finance):
    members(merchant, 2)
    sign_in(client, finance)

    response = client.get(MEMBERS_XLSX)

    assert response.status_code == 200 and not ExportJob.objects.exists()


@pytest.mark.django_db
def test_progress_is_written_as_the_rows_are_written(built, monkeypatch):
    seen: list[int] = []
    monkeypatch.setattr(export_jobs, "PROGRESS_EVERY", 1)
    original = export_jobs._reporting_progress

    def watching(job, rows):
        for row in original(job, rows):
            seen.append(ExportJob.objects.get(pk=job.pk).rows_done)
            yield row

    monkeypatch.setattr(export_jobs, "_reporting_progress", watching)
    ExportJob.objects.filter(pk=built.pk).update(status=ExportStatus.QUEUED, rows_done=0)

    export_jobs.build_export(built.pk)

    assert seen == [0, 1, 2]  # the count written before each next row is read
    assert ExportJob.objects.get(pk=built.pk).status == ExportStatus.DONE


@pytest.mark.django_db
def test_the_requester_downloads_the_file_and_the_download_is_logged(client, built, finance):
    page = client.get(MY_EXPORTS).content.decode()
    link = export_jobs.download_link(built, finance.user)
    assert 'data-status="done"' in page and "Download" in page
    assert '<meta http-equiv="refresh"' not in page

    response = client.get(link)

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="member-')
    assert b"".join(response.streaming_content).startswith(b"PK")  # a zip: the .xlsx
    download = ExportDownload.objects.get()
    assert (download.job, download.user, download.merchant_id) == (built, finance.user, built.merchant_id)


@pytest.mark.django_db
def test_other_staff_of_the_merchant_neither_see_nor_download_the_file(client, built, merchant, finance):
    colleague = staff_user(merchant, "finance")
    sign_in(client, colleague)

    assert f'data-job="{built.pk}"' not in client.get(MY_EXPORTS).content.decode()
    assert client.get(export_jobs.download_link(built, finance.user)).status_code == 404  # not theirs
    assert client.get(export_jobs.download_link(built, colleague.user)).status_code == 404
    assert not ExportDownload.objects.exists()


@pytest.mark.django_db
def test_the_merchants_admin_may_download_any_staff_members_export(client, built, merchant):
    admin = staff_user(merchant, "merchant_admin")
    sign_in(client, admin)

    assert f'data-job="{built.pk}"' in client.get(MY_EXPORTS).content.decode()
    assert client.get(export_jobs.download_link(built, admin.user)).status_code == 200
    assert ExportDownload.objects.get().user == admin.user


@pytest.mark.django_db
def test_another_merchants_admin_gets_a_404(client, built, other_merchant):
    stranger = staff_user(other_merchant, "merchant_admin")
    sign_in(client, stranger)

    assert client.get(export_jobs.download_link(built, stranger.user)).status_code == 404
    assert f'data-job="{built.pk}"' not in client.get(MY_EXPORTS).content.decode()


@pytest.mark.django_db
def test_an_expired_link_is_refused(client, built, finance, settings):
    link = export_jobs.download_link(built, finance.user)
    settings.EXPORT_LINK_MAX_AGE = -1  # every link is older than that

    response = client.get(link, follow=True)

    assert response.redirect_chain[-1][0] == MY_EXPORTS
    assert "This download link has expired" in response.content.decode()
    assert not ExportDownload.objects.exists()


@pytest.mark.django_db
def test_an_export_past_its_retention_is_refused_then_purged_with_its_file(client, built, finance):
    link = export_jobs.download_link(built, finance.user)
    ExportJob.objects.filter(pk=built.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    client.get(link)  # refused: no file past the retention
    assert not ExportDownload.objects.exists()
    assert client.get(link).status_code == 404
    ExportDownload.objects.create(
        merchant_id=built.merchant_id, job=built, title=built.title, user=finance.user
    )

    assert purge_expired_exports.call_local() == 1

    assert not ExportJob.objects.exists()
    assert not export_jobs.storage().exists(built.file)
    assert ExportDownload.objects.get().job is None  # the log stays


@pytest.mark.django_db
def test_exports_are_kept_for_the_retention_period(built, settings):
    assert built.expires_at - built.created_at == pytest.approx(
        timedelta(days=settings.EXPORT_RETENTION_DAYS), abs=timedelta(seconds=5)
    )
    assert export_jobs.purge_expired() == 0
    assert export_jobs.purge_expired(now=built.expires_at) == 1


@pytest.mark.django_db
def test_rows_past_an_excel_sheets_limit_go_on_to_further_sheets(
    client, merchant, finance, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(exports, "XLSX_SHEET_ROWS", 3)  # a header row and two data rows a sheet
    members(merchant, 5)
    sign_in(client, finance)

    with django_capture_on_commit_callbacks(execute=True):
        client.get(MEMBERS_XLSX)

    job = ExportJob.objects.get()
    assert (job.status, job.rows_done, job.sheets) == (ExportStatus.DONE, 5, 3)
    with export_jobs.storage().open(job.file) as file:
        workbook = load_workbook(io.BytesIO(file.read()))
    assert workbook.sheetnames == ["Members", "Members (2)", "Members (3)"]
    assert [sheet.max_row for sheet in workbook.worksheets] == [3, 3, 2]
    assert workbook.worksheets[2]["A1"].value == "phone"
    assert "3 sheets" in client.get(MY_EXPORTS).content.decode()


@pytest.mark.django_db
def test_a_pdf_over_its_limit_is_refused_at_once_with_the_reason(client, merchant, finance, monkeypatch):
    monkeypatch.setattr(exports, "PDF_MAX_ROWS", 2)
    members(merchant, 3)
    sign_in(client, finance)

    response = client.get(MEMBERS_PDF, follow=True)

    assert response.redirect_chain[-1][0] == MEMBERS
    assert "A PDF holds at most 2 rows" in response.content.decode()
    assert not ExportJob.objects.exists()


@pytest.mark.django_db
def test_a_long_lists_pdf_is_built_in_the_background(
    client, merchant, finance, django_capture_on_commit_callbacks
):
    members(merchant, 3)
    sign_in(client, finance)

    with django_capture_on_commit_callbacks(execute=True):
        client.get(MEMBERS_PDF)

    job = ExportJob.objects.get()
    assert (job.format, job.status, job.rows_done) == ("pdf", ExportStatus.DONE, 3)
    with export_jobs.storage().open(job.file) as file:
        assert file.read(4) == b"%PDF"


@pytest.mark.django_db
def test_a_requester_who_lost_the_export_permission_gets_a_failed_job_with_the_reason_in_their_language(
    client, merchant, finance, django_capture_on_commit_callbacks
):
    members(merchant, 3)
    sign_in(client, finance)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"
    with django_capture_on_commit_callbacks(execute=False) as queued:
        client.get(MEMBERS_XLSX)
    finance.user.groups.clear()

    queued[0]()

    job = ExportJob.objects.get()
    assert (job.status, job.file, job.language) == (ExportStatus.FAILED, "", "vi")
    assert job.error == "Bạn không có quyền in hoặc xuất dữ liệu này."


@pytest.mark.django_db
def test_a_job_whose_worker_died_is_marked_failed_by_the_hourly_purge(built):
    ExportJob.objects.filter(pk=built.pk).update(
        status=ExportStatus.RUNNING,
        created_at=timezone.now() - export_jobs.STALE_AFTER - timedelta(minutes=1),
    )

    export_jobs.purge_expired()

    job = ExportJob.objects.get(pk=built.pk)
    assert job.status == ExportStatus.FAILED and not job.running
    assert job.error == "The file could not be built. Try again, or export to CSV."
