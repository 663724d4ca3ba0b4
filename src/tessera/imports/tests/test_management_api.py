"""Issue 17, C4 through the management API: upload (multipart), dry run, error report, apply, progress —
the back office's services; `admin` keys only; another merchant's imports are 404."""

from __future__ import annotations

import uuid

import pytest
from tests.factories import StoreFactory
from tests.management_api import KeyClient

from tessera.imports.models import ImportJob, ImportState
from tessera.imports.tests.factories import csv_upload
from tessera.imports.tests.test_views import ROWS
from tessera.members.models import Member
from tessera.tenancy.models import Scope

pytestmark = pytest.mark.django_db


def _upload(client: KeyClient, rows=ROWS, key: str | None = None):
    return client.client.post(
        "/api/v1/imports", {"file": csv_upload(rows)}, HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4())
    )


def test_c4_upload_dry_run_error_report_and_apply_by_api(merchant, django_capture_on_commit_callbacks):
    admin = KeyClient(merchant)

    uploaded = _upload(admin)

    assert uploaded.status_code == 201, uploaded.content
    job = uploaded.json()
    assert (job["state"], job["headers"]) == ("uploaded", ["SĐT", "Họ và tên", "Điểm"])
    mapping = {"SĐT": "phone", "Họ và tên": "full_name", "Điểm": "points"}
    with django_capture_on_commit_callbacks(execute=True):
        checked = admin.post(f"/imports/{job['id']}/check", {"mapping": mapping, "mode": "skip_bad_rows"})
    assert checked.status_code == 200, checked.content
    read = admin.get(f"/imports/{job['id']}").json()
    assert (read["state"], read["progress"]["valid_rows"], read["progress"]["invalid_rows"]) == (
        "validated",
        1,
        2,
    )
    report = admin.get(f"/imports/{job['id']}/errors").json()
    assert report["count"] == 2
    assert {e["code"] for e in report["items"]} == {"invalid_phone", "points_not_whole"}
    assert not Member.objects.of(merchant).exists()

    with django_capture_on_commit_callbacks(execute=True):
        applied = admin.post(f"/imports/{job['id']}/apply")

    assert applied.status_code == 200
    done = admin.get(f"/imports/{job['id']}").json()
    assert (done["state"], done["progress"]["created"], done["progress"]["percent"]) == ("done", 1, 100)
    assert list(Member.objects.of(merchant).values_list("full_name", flat=True)) == ["Nguyễn Văn An"]
    again = admin.post(f"/imports/{job['id']}/apply")
    assert (again.status_code, again.json()["code"]) == (409, "import_not_ready")
    assert admin.get("/imports").json()["count"] == 1


def test_a_bad_file_and_a_bad_mapping_are_the_services_refusals(merchant):
    admin = KeyClient(merchant)
    empty = admin.client.post(
        "/api/v1/imports", {"file": csv_upload([])}, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
    )
    assert (empty.status_code, empty.json()["code"]) == (422, "empty_file")
    job = _upload(admin).json()

    response = admin.post(f"/imports/{job['id']}/check", {"mapping": {"Họ và tên": "full_name"}})

    assert (response.status_code, response.json()["code"]) == (422, "missing_phone_column")
    assert ImportJob.objects.get().state == ImportState.UPLOADED


def test_an_upload_retried_with_its_key_is_one_import(merchant):
    admin = KeyClient(merchant)

    first = _upload(admin, key="upload-1")
    second = _upload(admin, key="upload-1")

    assert second.status_code == 201 and second.json()["id"] == first.json()["id"]
    assert ImportJob.objects.count() == 1


def test_other_merchants_get_404_and_keys_without_admin_get_403(merchant, other_merchant):
    store = StoreFactory(merchant=merchant)
    job = _upload(KeyClient(merchant)).json()
    paths = [
        ("get", f"/imports/{job['id']}"),
        ("get", f"/imports/{job['id']}/errors"),
        ("post", f"/imports/{job['id']}/apply"),
        ("post", f"/imports/{job['id']}/cancel"),
    ]
    stranger = KeyClient(other_merchant)
    till = KeyClient(merchant, Scope.POS, store=store)
    reader = KeyClient(merchant, Scope.ADMIN_READ)

    for method, path in paths:
        assert getattr(stranger, method)(path).status_code == 404, path
        assert getattr(till, method)(path).json()["code"] == "insufficient_scope", path
        assert getattr(reader, method)(path).status_code == (200 if method == "get" else 403), path
    assert stranger.post(f"/imports/{job['id']}/check", {"mapping": {"SĐT": "phone"}}).status_code == 404
    assert _upload(till).status_code == 403
    assert ImportJob.objects.get().state == ImportState.UPLOADED


def test_c4_an_excel_workbook_uploads_by_api_though_its_bytes_hold_nul(merchant):
    """A workbook is a zip: NUL bytes in the file are its format, not control characters in text; the
    upload's text fields are still checked (core.textguard)."""
    from tessera.imports.tests.factories import xlsx_upload

    admin = KeyClient(merchant)
    workbook = xlsx_upload(ROWS)
    assert b"\x00" in workbook.read()
    workbook.seek(0)

    uploaded = admin.client.post(
        "/api/v1/imports", {"file": workbook}, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
    )

    assert uploaded.status_code == 201, uploaded.content
    assert uploaded.json()["headers"] == ["SĐT", "Họ và tên", "Điểm"]
    nul_field = admin.client.post(
        "/api/v1/imports",
        {"file": xlsx_upload(ROWS), "note": "a\x00b"},
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert nul_field.status_code == 422 and nul_field.json()["code"] == "invalid_request"
