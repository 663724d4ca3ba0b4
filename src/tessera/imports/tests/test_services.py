"""C4: importing members and opening balances — dry run, apply in both modes, every kind of bad row."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta
from django.core.management import call_command
from django.db import IntegrityError
from django.utils import timezone
from tests.factories import MemberFactory, StoreFactory, staff_user

from tessera.core.errors import Conflict, PermissionDenied, ValidationFailed
from tessera.imports import services
from tessera.imports.models import ImportJob, ImportRowError, ImportState
from tessera.imports.tests.factories import csv_upload, xlsx_upload
from tessera.ledger.models import Account, Entry, EntryKind, Lot
from tessera.ledger.selectors import verify_ledger
from tessera.members.models import Member, MemberStatus
from tessera.members.services import save_tag
from tessera.points.models import ExpiryKind
from tessera.points.services import save_policy
from tessera.reports.aggregates import rebuild
from tessera.reports.tests.test_member_tables import kept

pytestmark = pytest.mark.django_db

HEADER = ["Số điện thoại", "Họ tên", "Ngày sinh", "Giới tính", "Email", "Điểm", "Ngày tích điểm", "Hạn điểm"]
NEXT_YEAR = timezone.localdate().year + 1


@pytest.fixture
def admin(merchant):
    return staff_user(merchant, "merchant_admin").user


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Runs the huey tasks a service schedules (they run inline in tests, after the commit)."""

    def call(service, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            job = service(**kwargs)
        job.refresh_from_db()
        return job

    return call


def upload(merchant, admin, file):
    return services.upload_import(merchant=merchant, upload=file, actor=admin)


def check(run, job, admin, *, mode="all_or_nothing", policy="skip", mapping=None, default_expiry=None):
    return run(
        services.check_import,
        job=job,
        mapping=mapping if mapping is not None else job.mapping,
        mode=mode,
        duplicate_policy=policy,
        default_expiry=default_expiry,
        actor=admin,
    )


def errors(job):
    return list(ImportRowError.objects.filter(job=job).order_by("row", "pk").values_list("row", "code"))


def snapshot():
    return (Member.objects.count(), Account.objects.count(), Entry.objects.count(), Lot.objects.count())


GOOD = [
    [
        "0912 345 678",
        "Nguyễn Thị Hồng",
        "03/05/1990",
        "Nữ",
        "hong@example.vn",
        "1.500",
        "01/02/2024",
        f"31/12/{NEXT_YEAR}",
    ],
    ["+84 903123456", "王小明", "1990年5月3日", "男", "", "200", "", ""],
    ["84987654321", "Trần Văn Bình", "1985-11-20", "Nam", "", "", "", ""],
    ["(028) 3823 4567", "Lê Thu", "", "", "", "0", "", ""],
]


def test_c4_upload_suggests_the_mapping_from_vietnamese_headers(merchant, admin):
    job = upload(merchant, admin, csv_upload([HEADER, *GOOD]))

    assert job.state == ImportState.UPLOADED
    assert job.mapping == {
        "Số điện thoại": "phone",
        "Họ tên": "full_name",
        "Ngày sinh": "birthday",
        "Giới tính": "gender",
        "Email": "email",
        "Điểm": "points",
        "Ngày tích điểm": "points_earned_on",
        "Hạn điểm": "points_expire_on",
    }
    assert job.file.name.startswith(f"imports/{merchant.pk}/") and job.file.name.endswith(".csv")


def test_c4_dry_run_then_apply_imports_members_and_dated_opening_balances(merchant, admin, run):
    job = check(run, upload(merchant, admin, csv_upload([HEADER, *GOOD])), admin)
    assert (job.state, job.total_rows, job.valid_rows, job.invalid_rows, job.created_count) == (
        ImportState.VALIDATED,
        4,
        4,
        0,
        4,
    )
    assert job.points_total == 1700
    assert Member.objects.count() == 0  # a dry run writes no member

    job = run(services.apply_import, job=job, actor=admin)

    assert (job.state, job.created_count) == (ImportState.DONE, 4)
    hong = Member.objects.get(phone="+84912345678")
    assert (hong.full_name, hong.birthday, hong.gender, hong.email) == (
        "Nguyễn Thị Hồng",
        date(1990, 5, 3),
        "female",
        "hong@example.vn",
    )
    assert hong.status == MemberStatus.ACTIVE
    assert " nguyen thi hong" in hong.search_text
    assert hong.history.count() == 1
    ming = Member.objects.get(phone="+84903123456")
    assert (ming.full_name, ming.birthday, ming.gender) == ("王小明", date(1990, 5, 3), "male")
    assert Member.objects.filter(phone="+84987654321").exists()
    assert Member.objects.filter(phone="+842838234567").exists()

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    lot = Lot.objects.get(account__member=hong)
    assert (lot.amount, lot.remaining, lot.released) == (1500, 1500, True)
    assert lot.earned_at == datetime(2024, 2, 1, tzinfo=tz)
    assert lot.expires_at == datetime(NEXT_YEAR + 1, 1, 1, tzinfo=tz)  # valid through 31/12
    entry = Entry.objects.get(account__member=hong)
    assert (entry.kind, entry.amount, entry.source) == (EntryKind.ADJUST, 1500, f"import:{job.pk}")
    assert Account.objects.get(member=ming).balance == 200
    # No expiry date on the row: the points policy's (12 months from the earning date by default).
    ming_lot = Lot.objects.get(account__member=ming)
    assert ming_lot.expires_at == ming_lot.earned_at.astimezone(tz) + relativedelta(months=12)
    assert verify_ledger() == []
    call_command("verify_ledger")


def test_c4_every_kind_of_bad_row_is_reported_with_its_row_and_code(merchant, admin, run):
    save_tag(merchant=merchant, name="VIP")
    StoreFactory(merchant=merchant, code="q1", name="Quận 1")
    MemberFactory(merchant=merchant, phone="+84911111111")
    header = [*HEADER, "Nhãn", "Cửa hàng", "Nhận SMS"]
    blank = [""] * 3
    rows = [
        header,
        ["0912345678", "OK", "", "", "", "", "", "", "VIP", "Q1", "có"],  # 2: fine
        ["", "No phone", "", "", "", "", "", "", *blank],  # 3
        ["12345", "Bad phone", "", "", "", "", "", "", *blank],  # 4
        ["0912 345 678", "Twice", "", "", "", "", "", "", *blank],  # 5: same as row 2
        ["0911111111", "Member", "", "", "", "", "", "", *blank],  # 6: existing member, policy error
        ["0912000001", "x" * 201, "", "", "", "", "", "", *blank],  # 7
        ["0912000002", "", "", "", "not-an-email", "", "", "", *blank],  # 8
        ["0912000003", "", "", "Unknown", "", "", "", "", *blank],  # 9
        ["0912000004", "", f"01/01/{NEXT_YEAR + 1}", "", "", "", "", "", *blank],  # 10
        ["0912000005", "", "31/02/1990", "", "", "", "", "", *blank],  # 11
        ["0912000006", "", "", "", "", "12.5", "", "", *blank],  # 12
        ["0912000007", "", "", "", "", "-3", "", "", *blank],  # 13
        ["0912000008", "", "", "", "", "abc", "", "", *blank],  # 14
        ["0912000009", "", "", "", "", "100", "01/06/2024", "01/01/2024", *blank],  # 15
        ["0912000010", "", "", "", "", "100", "01/01/2020", "01/01/2021", *blank],  # 16
        ["0912000011", "", "", "", "", "100", f"01/01/{NEXT_YEAR + 1}", "", *blank],  # 17
        ["0912000012", "", "", "", "", "", "", "", "Khách sỉ", "", ""],  # 18
        ["0912000013", "", "", "", "", "", "", "", "", "q9", ""],  # 19
        ["0912000014", "", "", "", "", "", "", "", "", "", "maybe"],  # 20
    ]
    job = upload(merchant, admin, csv_upload(rows))
    job = check(run, job, admin, policy="error")

    assert errors(job) == [
        (3, "missing_phone"),
        (4, "invalid_phone"),
        (5, "duplicate_in_file"),
        (6, "member_exists"),
        (7, "too_long"),
        (8, "invalid_email"),
        (9, "invalid_gender"),
        (10, "birthday_in_future"),
        (11, "invalid_date"),
        (12, "points_not_whole"),
        (13, "points_negative"),
        (14, "invalid_points"),
        (15, "expiry_before_earning"),
        (16, "expiry_in_past"),
        (17, "earned_in_future"),
        (18, "unknown_tag"),
        (19, "unknown_store"),
        (20, "invalid_yes_no"),
    ]
    assert (job.total_rows, job.valid_rows, job.invalid_rows) == (19, 1, 18)
    error = ImportRowError.objects.get(job=job, row=12)
    # Stored in the merchant's language (Vietnamese), with the column and the value as in the file.
    assert (error.column, error.value) == ("Điểm", "12.5")
    assert "12.5" in error.message
    with pytest.raises(Conflict) as refused:
        services.apply_import(job=job, actor=admin)
    assert refused.value.code == "import_has_errors"


def test_c4_skip_bad_rows_imports_the_good_rows_and_reports_the_rest(merchant, admin, run):
    MemberFactory(merchant=merchant, phone="+84911111111", full_name="Already")
    rows = [
        HEADER,
        *GOOD,
        ["12345", "Bad", "", "", "", "", "", ""],
        ["0911111111", "Dup", "", "", "", "", "", ""],
    ]
    job = check(run, upload(merchant, admin, csv_upload(rows)), admin, mode="skip_bad_rows", policy="skip")
    assert (job.valid_rows, job.invalid_rows, job.created_count, job.skipped_count) == (5, 1, 4, 1)

    job = run(services.apply_import, job=job, actor=admin)

    assert (job.state, job.created_count, job.skipped_count, job.invalid_rows) == (ImportState.DONE, 4, 1, 1)
    assert errors(job) == [(6, "invalid_phone")]
    assert Member.objects.count() == 5
    assert Member.objects.get(phone="+84911111111").full_name == "Already"
    assert verify_ledger() == []


def test_c4_update_policy_fills_only_the_empty_fields_of_existing_members(merchant, admin, run):
    existing = MemberFactory(merchant=merchant, phone="+84911111111", full_name="Kept Name")
    rows = [
        ["SĐT", "Họ tên", "Email", "Địa chỉ"],
        ["0911111111", "Other Name", "new@example.vn", "12 Lý Thái Tổ"],
    ]
    job = check(run, upload(merchant, admin, csv_upload(rows)), admin, policy="update_empty")
    assert job.updated_count == 1
    run(services.apply_import, job=job, actor=admin)

    existing.refresh_from_db()
    assert (existing.full_name, existing.email, existing.address) == (
        "Kept Name",
        "new@example.vn",
        "12 Lý Thái Tổ",
    )
    assert existing.history.first().history_change_reason == f"import:{job.pk}"


def test_c4_opening_points_for_an_existing_member_are_refused(merchant, admin, run):
    MemberFactory(merchant=merchant, phone="+84911111111")
    rows = [["Phone", "Points"], ["0911111111", "100"]]
    job = check(run, upload(merchant, admin, csv_upload(rows)), admin, policy="update_empty")
    assert errors(job) == [(2, "points_for_existing_member")]


def test_c4_xlsx_with_excel_types_serial_dates_float_phones_and_chinese_names(merchant, admin, run):
    save_policy(merchant=merchant, expiry=ExpiryKind.NEVER)  # points earned in 2024 are still good
    rows = [
        ["手机", "姓名", "生日", "积分", "Ngày tích điểm"],
        [912345678.0, "张伟", 32996, 300.0, datetime(2024, 3, 1)],  # 32996 = 1990-05-03
        ["0903 123 456", "Phạm Quỳnh Anh", datetime(1992, 7, 9), 5, "2024-03-02"],
        [None, None, None, None, None],  # blank rows are not rows
        [84987654321, "李娜", "03-05-1990", "2,000", 45352],
    ]
    job = upload(merchant, admin, xlsx_upload(rows))
    assert job.file_format == "xlsx"
    assert (
        job.mapping["手机"] == "phone"
        and job.mapping["姓名"] == "full_name"
        and job.mapping["积分"] == "points"
    )
    job = check(run, job, admin)
    assert errors(job) == [] and job.total_rows == 3
    run(services.apply_import, job=job, actor=admin)

    zhang = Member.objects.get(phone="+84912345678")
    assert (zhang.full_name, zhang.birthday) == ("张伟", date(1990, 5, 3))
    assert Account.objects.get(member=zhang).balance == 300
    li = Member.objects.get(phone="+84987654321")
    assert li.birthday == date(1990, 5, 3)
    assert Account.objects.get(member=li).balance == 2000
    earned = Lot.objects.get(account__member=li).earned_at
    assert timezone.localtime(earned, ZoneInfo("Asia/Ho_Chi_Minh")).date() == date(2024, 3, 1)
    assert verify_ledger() == []


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8-sig", ","), ("utf-8", ";"), ("utf-16", "\t"), ("cp1258", ",")],
)
def test_c4_csv_in_excel_encodings_and_delimiters(merchant, admin, run, encoding, delimiter):
    # Names the Vietnamese code page can hold; "ị" is stored there as "i" + a combining dot.
    rows = [["Phone", "Name"], ["0912345678", "Lý Văn Tú"], ["0903123456", "Đào Thị Hà"]]
    job = upload(merchant, admin, csv_upload(rows, encoding=encoding, delimiter=delimiter))
    assert job.mapping == {"Phone": "phone", "Name": "full_name"}
    job = check(run, job, admin)
    run(services.apply_import, job=job, actor=admin)

    names = sorted(Member.objects.values_list("full_name", flat=True))
    assert names == ["Lý Văn Tú", "Đào Thị Hà"]  # composed (NFC), whatever the file held


def test_c4_gb18030_csv_for_a_chinese_merchant(other_merchant, run):
    other_merchant.country = "CN"
    other_merchant.save()
    admin = staff_user(other_merchant, "merchant_admin").user
    rows = [["手机号", "姓名"], ["138 0013 8000", "王芳"]]
    job = upload(other_merchant, admin, csv_upload(rows, encoding="gb18030"))
    assert job.mapping == {"手机号": "phone", "姓名": "full_name"}
    job = check(run, job, admin)
    run(services.apply_import, job=job, actor=admin)
    assert Member.objects.get(merchant=other_merchant).phone == "+8613800138000"


def test_c4_all_or_nothing_rolls_back_everything_on_a_late_bad_row(merchant, admin, run, monkeypatch):
    monkeypatch.setattr(services, "CHUNK", 2)
    rows = [HEADER, *GOOD, ["0912000001", "Late", "", "", "", "10", "", ""]]
    job = check(run, upload(merchant, admin, csv_upload(rows)), admin, policy="error")
    MemberFactory(merchant=merchant, phone="+84912000001")  # registered at the till after the check
    before = snapshot()

    job = run(services.apply_import, job=job, actor=admin)

    assert job.state == ImportState.FAILED
    assert "6" in job.failure
    assert snapshot() == before
    assert errors(job) == [(6, "member_exists")]


def test_c4_all_or_nothing_rolls_back_everything_on_a_database_failure(merchant, admin, run, monkeypatch):
    monkeypatch.setattr(services, "CHUNK", 2)
    job = check(run, upload(merchant, admin, csv_upload([HEADER, *GOOD])), admin)
    real = services.credit_opening_balances_from
    calls = []

    def fail_on_second_chunk(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise IntegrityError("injected")
        return real(**kwargs)

    monkeypatch.setattr(services, "credit_opening_balances_from", fail_on_second_chunk)
    before = snapshot()

    job = run(services.apply_import, job=job, actor=admin)

    # The reason is kept in the merchant's language (Vietnamese here).
    assert job.state == ImportState.FAILED and "không có dữ liệu nào được nhập" in job.failure
    assert snapshot() == before


def test_c4_skip_bad_rows_keeps_committed_chunks_and_a_rerun_imports_nothing_twice(
    merchant, admin, run, monkeypatch
):
    monkeypatch.setattr(services, "CHUNK", 2)
    job = check(run, upload(merchant, admin, csv_upload([HEADER, *GOOD])), admin, mode="skip_bad_rows")
    real = services.credit_opening_balances_from
    calls = []

    def fail_on_second_chunk(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise IntegrityError("injected")
        return real(**kwargs)

    monkeypatch.setattr(services, "credit_opening_balances_from", fail_on_second_chunk)
    job = run(services.apply_import, job=job, actor=admin)
    assert job.state == ImportState.FAILED and job.applied_through_row == 3
    assert Member.objects.count() == 2

    # The worker is restarted on the same job (e.g. after a crash): it resumes after row 3.
    monkeypatch.setattr(services, "credit_opening_balances_from", real)
    ImportJob.objects.filter(pk=job.pk).update(state=ImportState.APPLYING)
    services.run_apply(job.pk)
    job.refresh_from_db()
    assert (job.state, job.created_count) == (ImportState.DONE, 4)
    assert Member.objects.count() == 4
    assert verify_ledger() == []

    with pytest.raises(Conflict):
        services.apply_import(job=job, actor=admin)
    services.run_apply(job.pk)  # a duplicate task does nothing
    assert Member.objects.count() == 4


def test_c4_cancel_while_running_stops_and_rolls_back(merchant, admin, run, monkeypatch):
    monkeypatch.setattr(services, "CHUNK", 2)
    job = check(run, upload(merchant, admin, csv_upload([HEADER, *GOOD])), admin)
    real = services._write_chunk

    def cancel_after_first_chunk(job, first, last, **kwargs):
        real(job, first, last, **kwargs)
        services.cancel_import(job=job, actor=admin)

    monkeypatch.setattr(services, "_write_chunk", cancel_after_first_chunk)
    before = snapshot()
    job = run(services.apply_import, job=job, actor=admin)
    assert job.state == ImportState.CANCELLED
    assert snapshot() == before


def test_c4_cancel_a_waiting_job(merchant, admin):
    job = upload(merchant, admin, csv_upload([HEADER, *GOOD]))
    services.cancel_import(job=job, actor=admin)
    assert job.state == ImportState.CANCELLED
    with pytest.raises(Conflict):
        services.cancel_import(job=job, actor=admin)


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("members.xls", b"\xd0\xcf\x11\xe0", "old_excel_format"),
        ("members.pdf", b"%PDF-1.4", "unsupported_format"),
        ("members.xlsx", b"not a zip file", "unreadable_file"),
        ("members.csv", b"", "empty_file"),
        ("members.csv", b"\n\n", "empty_file"),
    ],
)
def test_c4_unreadable_files_are_refused_at_upload(merchant, admin, name, content, code):
    from django.core.files.uploadedfile import SimpleUploadedFile

    with pytest.raises(ValidationFailed) as refused:
        upload(merchant, admin, SimpleUploadedFile(name, content))
    assert refused.value.code == code
    assert not ImportJob.objects.exists()


def test_c4_the_mapping_needs_a_phone_column_and_each_field_once(merchant, admin, run):
    job = upload(merchant, admin, csv_upload([HEADER, *GOOD]))
    with pytest.raises(ValidationFailed) as refused:
        check(run, job, admin, mapping={"Họ tên": "full_name"})
    assert refused.value.code == "missing_phone_column"
    with pytest.raises(ValidationFailed) as refused:
        check(
            run, job, admin, mapping={"Số điện thoại": "phone", "Họ tên": "full_name", "Email": "full_name"}
        )
    assert refused.value.code == "field_mapped_twice"


def test_c4_default_expiry_applies_to_rows_without_one(merchant, admin, run):
    rows = [["Phone", "Points"], ["0912345678", "50"]]
    expiry = date(NEXT_YEAR, 6, 30)
    job = check(run, upload(merchant, admin, csv_upload(rows)), admin, default_expiry=expiry)
    run(services.apply_import, job=job, actor=admin)
    lot = Lot.objects.get()
    assert timezone.localtime(lot.expires_at, ZoneInfo("Asia/Ho_Chi_Minh")).date() == expiry + timedelta(
        days=1
    )


def test_c4_only_staff_with_the_import_permission_may_import(merchant, other_merchant):
    cashier = staff_user(merchant, "cashier").user
    with pytest.raises(PermissionDenied):
        upload(merchant, cashier, csv_upload([HEADER, *GOOD]))
    stranger = staff_user(other_merchant, "merchant_admin").user
    with pytest.raises(PermissionDenied):
        upload(merchant, stranger, csv_upload([HEADER, *GOOD]))


def test_c4_stale_files_and_error_reports_are_deleted(merchant, admin, run):
    job = check(
        run, upload(merchant, admin, csv_upload([HEADER, ["123", "x", "", "", "", "", "", ""]])), admin
    )
    path = job.file.path
    assert ImportRowError.objects.filter(job=job).exists()

    assert services.delete_stale_files(now=timezone.now() + timedelta(days=services.RETENTION_DAYS + 1)) == 1

    job.refresh_from_db()
    assert job.file_deleted_at is not None
    assert not ImportRowError.objects.filter(job=job).exists()
    import os

    assert not os.path.exists(path)


def test_c4_cancel_ends_a_job_whose_worker_died(merchant, admin, run):
    job = check(run, upload(merchant, admin, csv_upload([HEADER, *GOOD])), admin)
    ImportJob.objects.filter(pk=job.pk).update(
        state=ImportState.APPLYING, updated_at=timezone.now() - services.STALLED_AFTER - timedelta(minutes=1)
    )
    job.refresh_from_db()

    services.cancel_import(job=job, actor=admin)

    assert job.state == ImportState.CANCELLED


def test_c4_credit_opening_balances_guards_its_dates_and_the_merchant(merchant, other_merchant):
    from tessera.ledger.services import OpeningBalance, credit_opening_balances

    member = MemberFactory(merchant=merchant)
    now = timezone.now()
    for balance, code in (
        (
            OpeningBalance(member_id=member.pk, amount=10, earned_at=now + timedelta(days=1)),
            "earned_in_future",
        ),
        (
            OpeningBalance(member_id=member.pk, amount=10, earned_at=now, expires_at=now),
            "expiry_before_earning",
        ),
        (OpeningBalance(member_id=member.pk, amount=0, earned_at=now), "invalid_amount"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            credit_opening_balances(merchant=merchant, balances=[balance], now=now)
        assert refused.value.code == code
    with pytest.raises(ValidationFailed) as refused:
        credit_opening_balances(
            merchant=other_merchant, balances=[OpeningBalance(member_id=member.pk, amount=5, earned_at=now)]
        )
    assert refused.value.code == "member_of_other_merchant"
    assert snapshot() == (1, 0, 0, 0)


def test_c4_a_database_error_during_the_check_fails_the_job_instead_of_leaving_it_checking(
    merchant, admin, run, monkeypatch
):
    from tessera.imports import staging

    def broken(job, **kwargs):
        raise IntegrityError("injected")

    monkeypatch.setattr(staging, "find_duplicates", broken)
    job = check(run, upload(merchant, admin, csv_upload([HEADER, *GOOD])), admin)

    assert (job.state, job.failure) == (ImportState.FAILED, "IntegrityError")


def test_c4_an_import_counts_its_members_for_the_customers_report_exactly(merchant, admin, run, monkeypatch):
    """Issue 16: all or nothing, the members of every block are counted once, at the end (PostgreSQL)."""
    monkeypatch.setattr(services, "CHUNK", 2)
    job = check(run, upload(merchant, admin, csv_upload([HEADER, *GOOD])), admin)
    job = run(services.apply_import, job=job, actor=admin)
    assert job.state == ImportState.DONE
    maintained = kept(merchant)
    assert sum(
        members
        for (dimension, _store, _value), members in maintained["counts"].items()
        if dimension == "region"
    ) == len(GOOD)
    rebuild(merchant=merchant)
    assert kept(merchant) == maintained
