"""Issue 12, C4: an opening balance past what one points operation may move (core.limits.MAX_POINTS) is
a row error of the dry run with its stable code, like any other bad cell; nothing is written."""

from __future__ import annotations

import pytest
from tests.factories import staff_user

from tessera.core.limits import MAX_POINTS
from tessera.imports import services
from tessera.imports.models import ImportRowError
from tessera.imports.tests.factories import csv_upload
from tessera.ledger.models import Entry
from tessera.members.models import Member

pytestmark = pytest.mark.django_db


def test_opening_points_over_the_limit_are_a_row_error_in_the_dry_run(
    merchant, django_capture_on_commit_callbacks
):
    admin = staff_user(merchant, "merchant_admin").user
    rows = [
        ["Số điện thoại", "Điểm"],
        ["0912000001", str(MAX_POINTS)],
        ["0912000002", str(MAX_POINTS + 1)],
        ["0912000003", str(2**63)],
    ]
    job = services.upload_import(merchant=merchant, upload=csv_upload(rows), actor=admin)

    with django_capture_on_commit_callbacks(execute=True):
        services.check_import(
            job=job,
            mapping=job.mapping,
            mode="all_or_nothing",
            duplicate_policy="skip",
            default_expiry=None,
            actor=admin,
        )

    job.refresh_from_db()
    errors = ImportRowError.objects.filter(job=job).order_by("row")
    assert [(e.row, e.code) for e in errors] == [(3, "points_too_large"), (4, "points_too_large")]
    assert str(MAX_POINTS) in errors[0].message.replace(".", "").replace(",", "")
    assert (job.valid_rows, job.invalid_rows) == (1, 2)
    assert not Member.objects.exists() and not Entry.objects.exists()
