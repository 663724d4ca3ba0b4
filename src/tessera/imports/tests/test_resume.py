"""Issue 16: an import killed mid-way and run again ends exactly as one that was never interrupted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Count, Sum
from django.utils import timezone
from tests.factories import MemberFactory, MerchantFactory, staff_user

from tessera.imports import services
from tessera.imports.models import ImportJob, ImportRowError, ImportState, StagedRow
from tessera.imports.tests.factories import csv_upload
from tessera.ledger.models import Account, Entry, Lot
from tessera.ledger.selectors import verify_ledger
from tessera.members.models import Member
from tessera.members.services import save_tag
from tessera.reports.models import EntryDelta

pytestmark = pytest.mark.django_db

RECENT = (timezone.localdate() - timedelta(days=10)).strftime("%d/%m/%Y")
HEADER = ["Số điện thoại", "Họ tên", "Email", "Điểm", "Ngày tích điểm", "Hạn điểm", "Nhãn"]
ROWS = [
    ["0912 000 001", "Nguyễn Văn An", "an@example.vn", "1.500", "01/02/2024", "31/12/2099", "VIP"],
    ["+84 912000002", "王小明", "", "200", RECENT, "", ""],
    ["84912000003", "Trần Bình", "", "", "", "", "VIP"],
    ["0912000004", "Lê Thu", "", "75", RECENT, "", ""],
    ["0911111111", "Already a member", "", "", "", "", ""],  # skipped
    ["0912000006", "Phạm Hồng", "", "10", RECENT, "31/12/2098", ""],
    ["0912000007", "Võ Minh", "", "", "", "", "VIP"],
    ["0912000008", "Đặng Lan", "", "3000", "01/01/2026", "31/12/2099", ""],
    ["0912000009", "Bùi Nam", "", "1", RECENT, "", ""],
]
BAD = ["12345", "Not a phone", "", "5", "", "", ""]


class Killed(BaseException):
    """A worker killed mid-way: not an error the job catches and records, like SIGKILL."""


def _import(merchant, *, mode, kill_after=None, monkeypatch=None):
    admin = staff_user(merchant, "merchant_admin").user
    save_tag(merchant=merchant, name="VIP")
    MemberFactory(merchant=merchant, phone="+84911111111", full_name="Already")
    rows = [HEADER, *ROWS[:4], BAD, *ROWS[4:]] if mode == "skip_bad_rows" else [HEADER, *ROWS]
    job = services.upload_import(merchant=merchant, upload=csv_upload(rows), actor=admin)
    services.check_import(job=job, mapping=job.mapping, mode=mode, duplicate_policy="skip", actor=admin)
    services.run_check(job.pk)
    services.apply_import(job=ImportJob.objects.get(pk=job.pk), actor=admin)
    if kill_after is not None:
        real, calls = services._write_chunk, []

        def killed_after_chunk(job, first, last, **kwargs):
            real(job, first, last, **kwargs)
            calls.append(last)
            if len(calls) == kill_after + 1:  # inside chunk k + 1's transaction: it is lost
                raise Killed

        monkeypatch.setattr(services, "_write_chunk", killed_after_chunk)
        with pytest.raises(Killed):
            services.run_apply(job.pk)
        monkeypatch.setattr(services, "_write_chunk", real)
        job.refresh_from_db()
        assert job.state == ImportState.APPLYING  # the worker died: the job still says so
        expected_through = calls[kill_after - 1] if mode == "skip_bad_rows" else 0
        assert job.applied_through_row == expected_through
    services.run_apply(job.pk)  # the worker restarted, or the first run
    return ImportJob.objects.get(pk=job.pk)


def _state(merchant, job):
    members = Member.objects.filter(merchant=merchant)
    return {
        "job": (
            job.state,
            job.total_rows,
            job.valid_rows,
            job.invalid_rows,
            job.created_count,
            job.skipped_count,
            job.points_total,
        ),
        "errors": list(ImportRowError.objects.filter(job=job).values_list("row", "code")),
        "members": sorted(
            (
                str(m.phone),
                m.full_name,
                m.email,
                m.status,
                tuple(t.name for t in m.tags.all()),
                m.history.count(),
            )
            for m in members
        ),
        "accounts": sorted(Account.objects.filter(merchant=merchant).values_list("member__phone", "balance")),
        "lots": sorted(
            Lot.objects.filter(merchant=merchant).values_list(
                "account__member__phone", "amount", "remaining", "earned_at", "expires_at", "released"
            )
        ),
        "entries": sorted(
            Entry.objects.filter(merchant=merchant).values_list("account__member__phone", "kind", "amount")
        ),
        "report_deltas": EntryDelta.objects.filter(merchant=merchant).aggregate(
            n=Count("pk"), total=Sum("amount")
        ),
        "staged": StagedRow.objects.filter(job=job).count(),
    }


@pytest.mark.parametrize("mode", ["all_or_nothing", "skip_bad_rows"])
@pytest.mark.parametrize("kill_after", [1, 3])
def test_an_import_killed_after_a_chunk_and_run_again_ends_as_if_never_interrupted(
    settings, tmp_path, monkeypatch, mode, kill_after
):
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr(services, "CHUNK", 2)
    straight = MerchantFactory(name="Straight", slug="straight")
    resumed = MerchantFactory(name="Resumed", slug="resumed")

    expected = _state(straight, _import(straight, mode=mode))
    actual = _state(resumed, _import(resumed, mode=mode, kill_after=kill_after, monkeypatch=monkeypatch))

    assert actual == expected
    assert expected["job"][0] == ImportState.DONE
    assert len(expected["lots"]) == 6 and expected["staged"] == 0
    assert expected["report_deltas"]["n"] == 6
    assert verify_ledger() == []
