"""Exports (C4, J6): the three writers, and the back-office export menus of members, sales and ledger."""

from __future__ import annotations

import base64
import csv
import io
import re
import zipfile
import zlib
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from defusedxml import ElementTree
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.urls import reverse
from openpyxl import load_workbook
from tests.factories import MemberFactory, StoreFactory, staff_user

from tessera.core import exports
from tessera.core.exports import Column, ExportTooLarge, export_response, require_export_permission
from tessera.ledger.models import Account, AccountKind, Entry, EntryKind
from tessera.members.models import Member, MemberStatus
from tessera.sales import services as sales
from tessera.sales.services import SaleLine
from tessera.tenancy.models import Merchant

VND = Merchant(name="Phở Hà Nội", currency="VND", time_zone="Asia/Ho_Chi_Minh", default_language="vi")
CNY = Merchant(name="茶馆 Tea House", currency="CNY", time_zone="Asia/Shanghai", default_language="zh-hans")
COLUMNS = [
    Column("Name"),
    Column("Spent", "money"),
    Column("Points", "points"),
    Column("Birthday", "date"),
    Column("Joined", "datetime"),
    Column("Rate", "percent"),
]
#: 20:30 UTC on 31 December is already 1 January in Shanghai and Ho Chi Minh City.
NEW_YEAR_EVE_UTC = datetime(2025, 12, 31, 20, 30, tzinfo=UTC)


def rows(*names: str) -> list[list[object]]:
    return [[name, 123456, 1500, date(1990, 5, 17), NEW_YEAR_EVE_UTC, Decimal("12.5")] for name in names]


def content(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def read_csv(response) -> list[list[str]]:
    data = content(response)
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def read_xlsx(response):
    return load_workbook(io.BytesIO(content(response))).active


# --- CSV ---------------------------------------------------------------------------------------------


def test_csv_writes_money_in_major_units_with_a_dot_per_currency_and_times_in_the_merchant_zone():
    cny = read_csv(
        export_response(
            fmt="csv", filename="x", title="x", columns=COLUMNS, rows=rows("王小明"), merchant=CNY
        )
    )
    vnd = read_csv(
        export_response(fmt="csv", filename="x", title="x", columns=COLUMNS, rows=rows("Hương"), merchant=VND)
    )

    assert cny == [
        ["Name", "Spent", "Points", "Birthday", "Joined", "Rate"],
        ["王小明", "1234.56", "1500", "1990-05-17", "2026-01-01 04:30:00", "12.5"],
    ]
    assert vnd[1] == ["Hương", "123456", "1500", "1990-05-17", "2026-01-01 03:30:00", "12.5"]


def test_csv_neutralises_formulas_in_text_but_not_negative_numbers():
    columns = [Column("Text"), Column("Points", "points")]
    data = [
        ['=HYPERLINK("http://evil")', -5],
        ["+84901234567", 0],
        ["-1+2", 1],
        ["@SUM(A1)", 2],
        ["plain", 3],
    ]

    lines = read_csv(
        export_response(fmt="csv", filename="x", title="x", columns=columns, rows=data, merchant=VND)
    )

    assert lines[1:] == [
        ['\'=HYPERLINK("http://evil")', "-5"],
        ["'+84901234567", "0"],
        ["'-1+2", "1"],
        ["'@SUM(A1)", "2"],
        ["plain", "3"],
    ]


def test_csv_streams_a_generator_without_reading_it_first():
    pulled = []

    def generator():
        for n in range(3000):
            pulled.append(n)
            yield [f"m{n}"]

    response = export_response(
        fmt="csv", filename="big", title="x", columns=[Column("Name")], rows=generator(), merchant=VND
    )

    assert response.streaming and pulled == []
    first = next(iter(response.streaming_content))
    assert first.startswith("\ufeffName".encode()) and len(pulled) < 3000
    assert response["Content-Disposition"] == 'attachment; filename="big.csv"'


# --- Excel -------------------------------------------------------------------------------------------


def test_xlsx_money_is_a_number_with_the_currency_format_and_times_are_local():
    sheet = read_xlsx(
        export_response(
            fmt="xlsx", filename="x", title="Members", columns=COLUMNS, rows=rows("王小明"), merchant=CNY
        )
    )

    assert [c.value for c in sheet[1]] == ["Name", "Spent", "Points", "Birthday", "Joined", "Rate"]
    name, spent, points, birthday, joined, rate = sheet[2]
    assert (name.value, spent.value, points.value) == ("王小明", pytest.approx(1234.56), 1500)
    assert spent.data_type == "n" and spent.number_format == '"¥"#,##0.00'
    assert points.number_format == "#,##0"
    assert birthday.value.date() == date(1990, 5, 17)
    assert joined.value == datetime(2026, 1, 1, 4, 30)
    assert rate.value == pytest.approx(0.125) and rate.number_format == "0.00%"


def test_xlsx_vnd_has_no_decimals():
    sheet = read_xlsx(
        export_response(
            fmt="xlsx", filename="x", title="x", columns=COLUMNS, rows=rows("Hương"), merchant=VND
        )
    )

    assert sheet["B2"].value == 123456 and sheet["B2"].number_format == '#,##0 "₫"'


def test_xlsx_writes_formula_lookalikes_as_plain_strings():
    data = [["=1+2"], ["+84901234567"], ["@x"]]
    sheet = read_xlsx(
        export_response(
            fmt="xlsx", filename="x", title="x", columns=[Column("Text")], rows=data, merchant=VND
        )
    )

    assert [(c.value, c.data_type) for (c,) in sheet.iter_rows(min_row=2)] == [
        ("=1+2", "s"),
        ("+84901234567", "s"),
        ("@x", "s"),
    ]


def test_xlsx_prints_the_title_and_filters_above_the_table():
    sheet = read_xlsx(
        export_response(
            fmt="xlsx",
            filename="x",
            title="Members",
            columns=[Column("Name")],
            rows=[["An"]],
            merchant=VND,
            filters=[("Status", "Active")],
        )
    )

    assert [r[0] for r in sheet.iter_rows(values_only=True)] == [
        "Members",
        "Status: Active",
        None,
        "Name",
        "An",
    ]


def test_xlsx_keeps_the_header_in_view_bold_drops_characters_xml_cannot_hold_and_writes_booleans():
    sheet = read_xlsx(
        export_response(
            fmt="xlsx",
            filename="x",
            title="x",
            columns=[Column("Name"), Column("SMS"), Column("Count", "int")],
            rows=[["An\x01 Bình\x1f", True, 7], [None, False, None]],
            merchant=VND,
        )
    )

    assert sheet.freeze_panes == "A2"
    assert sheet["A1"].font.b and not sheet["A2"].font.b
    assert list(sheet.iter_rows(min_row=2, values_only=True)) == [("An Bình", True, 7), (None, False, None)]
    assert sheet["B2"].data_type == "b" and sheet["C2"].number_format == "0"


def test_xlsx_is_a_well_formed_package_and_keeps_the_edges_of_text_dates_and_numbers():
    """The sheet's XML is written by hand (issue 16), so what xlsxwriter used to decide is checked here:
    every part parses, text keeps its spaces and markup characters and is cut at Excel's 32,767, the
    days around Excel's phantom 29 February 1900 land right, and no number is written in exponent form."""
    buffer = io.BytesIO()
    written = exports.write_xlsx(
        buffer,
        title='Members & "friends"',
        columns=[Column("<Name>"), Column("Day", "date"), Column("Amount", "int"), Column("Note")],
        rows=[
            ["  An & <Bình>  ", date(1900, 2, 28), 10**15, "x" * 40_000],
            ["", date(1900, 3, 1), Decimal("0.0000001"), "\t"],
            [None, date(1899, 12, 31), Decimal("1E+3"), "tab\tand\nline"],
        ],
        merchant=VND,
    )

    assert (written.rows, written.sheets) == (3, 1)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as package:
        for name in package.namelist():
            ElementTree.fromstring(package.read(name))  # raises on XML that is not well formed
        assert b"E+" not in package.read("xl/worksheets/sheet1.xml")
    sheet = load_workbook(io.BytesIO(buffer.getvalue())).active
    assert sheet.title == 'Members & "friends"'
    assert [c.value for c in sheet[1]] == ["<Name>", "Day", "Amount", "Note"]
    first, second, third = sheet.iter_rows(min_row=2, values_only=True)
    assert first[:3] == ("  An & <Bình>  ", datetime(1900, 2, 28), 10**15)
    assert first[3] == "x" * 32_767
    assert second[:3] == (None, datetime(1900, 3, 1), pytest.approx(1e-7))
    # Excel has no day before 1 January 1900: that date is written as text rather than a wrong day.
    assert third == (None, "1899-12-31", 1000, "tab\tand\nline")


# --- PDF ---------------------------------------------------------------------------------------------


def pdf_streams(data: bytes) -> list[bytes]:
    """Every stream of the PDF, inflated (and ASCII85-decoded) where it is: enough to find text and fonts."""
    out = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\n?endstream", data, re.S):
        raw = match.group(1).strip()
        if raw.endswith(b"~>"):
            raw = base64.a85decode(raw, adobe=True)
        try:
            out.append(zlib.decompress(raw))
        except zlib.error:
            out.append(raw)
    return out


def pdf_strings(stream: bytes) -> bytes:
    """The literal strings `(...)` of content streams, unescaped and joined."""
    escapes = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}

    def unescape(match: re.Match[bytes]) -> bytes:
        code = match.group(1)
        if code[:1].isdigit():
            return bytes([int(code, 8)])
        return escapes.get(code, code)

    literals = re.findall(rb"\(((?:\\.|[^\\)])*)\)", stream, re.S)
    return b"".join(re.sub(rb"\\([0-7]{1,3}|.)", unescape, s, flags=re.S) for s in literals)


def test_pdf_prints_vietnamese_and_chinese_names_with_fonts_that_have_their_glyphs():
    response = export_response(
        fmt="pdf",
        filename="members",
        title="Danh sách hội viên",
        columns=COLUMNS,
        rows=rows("Nguyễn Thị Hương", "王小明"),
        merchant=CNY,
        filters=[("Trạng thái", "Hoạt động")],
    )
    data = content(response)
    streams = pdf_streams(data)

    assert data.startswith(b"%PDF") and response["Content-Type"] == "application/pdf"
    # Vietnamese: DejaVu Sans embedded, and its ToUnicode map knows ễ, ị and ư.
    assert b"DejaVuSansCondensed" in data and b"/FontFile2" in data
    for char in "ễịư":
        assert any(f"<{ord(char):04X}>".encode() in stream for stream in streams)
    # Chinese: the Adobe CID font, the text written as UCS-2 code points.
    assert b"/BaseFont /STSong-Light" in data
    text = pdf_strings(b"\n".join(stream for stream in streams if b" Tj" in stream))
    assert "王小明".encode("utf-16-be") in text


def test_pdf_of_many_rows_runs_over_several_pages():
    data = exports.build_pdf(title="Sales", columns=COLUMNS, rows=rows("An") * 80, merchant=VND)

    assert data.count(b"/Type /Page\n") == 3


def test_pdf_cell_formats_money_per_currency_in_the_active_language():
    from django.utils import translation

    with translation.override("vi"):
        assert exports.pdf_cell(123456, Column("x", "money"), VND) == "123.456\xa0₫"
        assert exports.pdf_cell(123456, Column("x", "money"), CNY) == "1.234,56\xa0CN¥"
    assert exports.pdf_cell(NEW_YEAR_EVE_UTC, Column("x", "datetime"), VND) == "2026-01-01 03:30"
    assert exports.pdf_cell(True, Column("x"), VND) == "Yes"


def test_pdf_refuses_more_rows_than_it_can_print():
    with pytest.raises(ExportTooLarge) as refused:
        exports.build_pdf(title="x", columns=COLUMNS, rows=rows(*"abcdef"), merchant=VND, max_rows=5)
    assert "Excel" in str(refused.value)
    with pytest.raises(ExportTooLarge):
        export_response(
            fmt="pdf",
            filename="x",
            title="x",
            columns=COLUMNS,
            rows=iter(()),
            merchant=VND,
            row_count=exports.PDF_MAX_ROWS + 1,
        )


def test_font_runs_split_mixed_text_so_each_part_gets_a_font_with_its_glyphs():
    assert exports.font_runs("茶馆 Tea Hương") == [("茶馆 ", True), ("Tea Hương", False)]
    assert exports.font_for("Nguyễn") == exports.SANS
    assert exports.font_for("王 Wang") == exports.CJK


def test_require_export_permission_refuses_without_the_permission():
    request = RequestFactory().get("/")
    request.user = AnonymousUser()

    with pytest.raises(PermissionDenied):
        require_export_permission(request, "members.export_member")


# --- back office ---------------------------------------------------------------------------------------

MEMBERS = reverse("admin:members_member_changelist")
MEMBERS_CSV = reverse("admin:members_member_export_csv")
MEMBERS_XLSX = reverse("admin:members_member_export_xlsx")
MEMBERS_PDF = reverse("admin:members_member_export_pdf")
SALES_CSV = reverse("admin:sales_transaction_export_csv")
ENTRIES_XLSX = reverse("admin:ledger_entry_export_xlsx")


def sign_in(client, staff) -> None:
    client.force_login(staff.user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def earn(member: Member, *, points: int, spent: int | None, at: datetime, kind=AccountKind.POINTS) -> Entry:
    account, _ = Account.objects.get_or_create(merchant_id=member.merchant_id, member=member, kind=kind)
    Account.objects.filter(pk=account.pk).update(balance=account.balance + points)
    return Entry.objects.create(
        merchant_id=member.merchant_id,
        account=account,
        kind=EntryKind.EARN if kind == AccountKind.POINTS else EntryKind.TOP_UP,
        amount=points,
        balance_after=account.balance + points,
        sale_amount=spent,
        occurred_at=at,
    )


@pytest.mark.django_db
def test_c4_member_export_has_balances_tier_and_ranking_spend_of_the_filtered_list(client, merchant):
    store = StoreFactory(merchant=merchant, name="Hoàn Kiếm")
    an = MemberFactory(
        merchant=merchant, full_name="Nguyễn Văn An", phone="+84903000001", home_store=store, region="Hà Nội"
    )
    MemberFactory(
        merchant=merchant, full_name="Trần Bình", phone="+84903000002", status=MemberStatus.EXCLUDED
    )
    sale = earn(an, points=12, spent=120_000, at=NEW_YEAR_EVE_UTC)
    earn(an, points=3, spent=30_000, at=NEW_YEAR_EVE_UTC)
    earn(an, points=50_000, spent=None, at=NEW_YEAR_EVE_UTC, kind=AccountKind.STORED_VALUE)
    points_account = sale.account
    # Half the first sale's points were returned: half its spend leaves the ranking.
    Entry.objects.create(
        merchant_id=merchant.pk,
        account=points_account,
        kind=EntryKind.REVERSAL,
        amount=-6,
        balance_after=9,
        reverses=sale,
        occurred_at=NEW_YEAR_EVE_UTC,
    )
    Account.objects.filter(pk=points_account.pk).update(balance=9)
    sign_in(client, staff_user(merchant, "finance"))

    response = client.get(MEMBERS_CSV, {"status__exact": "active"})

    assert response.status_code == 200
    header, *lines = read_csv(response)
    assert header[:8] == [
        "phone",
        "name",
        "status",
        "tier",
        "points balance",
        "stored value balance",
        "ranking spend",
        "birthday",
    ]
    assert lines == [
        [
            "'+84903000001",
            "Nguyễn Văn An",
            "Active",
            "",
            "9",
            "50000",
            "90000",
            "",
            "Hà Nội",
            "",
            "Hoàn Kiếm",
            lines[0][11],
            "No",
            "No",
        ]
    ]


@pytest.mark.django_db
def test_c4_member_export_shows_each_phone_as_the_member_shows_it_valid_or_not(client, merchant):
    """The export reads the stored text of the phone, not a parsed number (issue 16): the same text."""
    valid = MemberFactory(merchant=merchant, full_name="An", phone="+84903000005")
    odd = MemberFactory(merchant=merchant, full_name="Bình", phone="+84903000006")
    Member.objects.filter(pk=odd.pk).update(phone="12345")  # as an old import may have kept it
    sign_in(client, staff_user(merchant, "finance"))

    sheet = read_xlsx(client.get(MEMBERS_XLSX))

    phones = {line[1]: line[0] for line in sheet.iter_rows(min_row=2, values_only=True)}
    assert phones == {
        "An": str(Member.objects.get(pk=valid.pk).phone),
        "Bình": str(Member.objects.get(pk=odd.pk).phone),
    }
    assert phones == {"An": "+84903000005", "Bình": "12345"}


@pytest.mark.django_db
def test_c4_member_export_follows_the_search_and_prints_the_filters(client, merchant):
    MemberFactory(merchant=merchant, full_name="Nguyễn Thị Hương", phone="+84903000003")
    MemberFactory(merchant=merchant, full_name="Lê Văn Cường", phone="+84903000004")
    sign_in(client, staff_user(merchant, "finance"))

    sheet = read_xlsx(client.get(MEMBERS_XLSX, {"q": "huong", "status__exact": "active"}))

    values = [r for r in sheet.iter_rows(values_only=True)]
    assert values[0][0] == "Members"
    assert values[1][:1] == ("Status: Active",) and values[2][0] == "Search: huong"
    assert [r[1] for r in values[5:]] == ["Nguyễn Thị Hương"]


@pytest.mark.django_db
def test_b1_staff_without_the_export_permission_see_no_menu_and_get_403(client, merchant):
    MemberFactory(merchant=merchant)
    cashier = staff_user(merchant, "cashier")
    sign_in(client, cashier)

    page = client.get(MEMBERS).content.decode()

    assert MEMBERS_CSV not in page
    for url in (MEMBERS_CSV, MEMBERS_XLSX, MEMBERS_PDF):
        assert client.get(url).status_code == 403


@pytest.mark.django_db
def test_the_export_menu_carries_the_lists_filters(client, merchant):
    sign_in(client, staff_user(merchant, "finance"))

    page = client.get(MEMBERS, {"status__exact": "active"}).content.decode()

    assert f"{MEMBERS_CSV}?status__exact=active" in page
    assert f"{MEMBERS_PDF}?status__exact=active" in page


@pytest.mark.django_db
def test_b2_another_merchants_staff_export_none_of_the_first_merchants_members(
    client, merchant, other_merchant
):
    MemberFactory(merchant=merchant, full_name="Nguyễn Văn An", phone="+84903000001")
    mine = MemberFactory(merchant=other_merchant, full_name="王小明", phone="+8613800138000")
    sign_in(client, staff_user(other_merchant, "finance"))

    _, *lines = read_csv(client.get(MEMBERS_CSV))

    assert [line[1] for line in lines] == [mine.full_name]


@pytest.mark.django_db
def test_b2_store_scoped_staff_export_only_their_stores_transactions(client, merchant, other_merchant):
    here, there = StoreFactory(merchant=merchant, name="Hoàn Kiếm"), StoreFactory(merchant=merchant)
    member = MemberFactory(merchant=merchant, phone="+84903000001")
    mine = sales.create_transaction(
        merchant=merchant, store=here, member=member, lines=[SaleLine("Bún chả", 2, 45000)]
    )
    sales.create_transaction(merchant=merchant, store=there, member=member, lines=[SaleLine("Phở", 1, 50000)])
    other_store = StoreFactory(merchant=other_merchant)
    sales.create_transaction(
        merchant=other_merchant,
        store=other_store,
        member=MemberFactory(merchant=other_merchant, phone="+8613800138000"),
        lines=[SaleLine("茶", 1, 1000)],
    )
    sign_in(client, staff_user(merchant, "store_manager", stores=[here]))

    response = client.get(SALES_CSV)

    _, *lines = read_csv(response)
    assert [(line[0], line[2], line[8], line[10]) for line in lines] == [
        (str(mine.pk), "Hoàn Kiếm", "90000", "90000")
    ]


@pytest.mark.django_db
def test_j6_ledger_entries_export_puts_stored_value_in_money_and_points_in_points(client, other_merchant):
    member = MemberFactory(merchant=other_merchant, phone="+8613800138000", full_name="王小明")
    earn(member, points=120, spent=1234, at=NEW_YEAR_EVE_UTC)
    earn(member, points=5000, spent=None, at=NEW_YEAR_EVE_UTC, kind=AccountKind.STORED_VALUE)
    sign_in(client, staff_user(other_merchant, "finance"))

    sheet = read_xlsx(client.get(ENTRIES_XLSX, {"o": "-6"}))

    rows_by_kind = {r[2]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows_by_kind["Points"][6:11] == (120, 120, None, None, pytest.approx(12.34))
    assert rows_by_kind["Stored value"][6:10] == (None, None, pytest.approx(50), pytest.approx(50))
    assert rows_by_kind["Points"][0] == datetime(2026, 1, 1, 4, 30)  # Shanghai


@pytest.mark.django_db
def test_j6_a_pdf_too_large_to_print_is_refused_with_a_message(client, merchant, monkeypatch):
    monkeypatch.setattr(exports, "PDF_MAX_ROWS", 1)
    MemberFactory(merchant=merchant)
    MemberFactory(merchant=merchant)
    sign_in(client, staff_user(merchant, "finance"))

    response = client.get(MEMBERS_PDF, {"status__exact": "active"}, follow=True)

    assert response.redirect_chain[-1][0] == f"{MEMBERS}?status__exact=active"
    assert "Excel" in response.content.decode()


@pytest.mark.django_db
def test_j6_member_pdf_is_printed_for_allowed_staff(client, merchant):
    MemberFactory(merchant=merchant, full_name="Nguyễn Thị Hương")
    sign_in(client, staff_user(merchant, "finance"))

    response = client.get(MEMBERS_PDF)

    assert response.status_code == 200 and content(response).startswith(b"%PDF")
    assert response["Content-Disposition"].startswith('attachment; filename="member-')


@pytest.mark.django_db
def test_d6_card_sheets_print_chinese_and_vietnamese_names_with_unicode_fonts(other_merchant):
    from tessera.cards import services as cards
    from tessera.cards.models import Card
    from tessera.cards.rendering import card_sheet_pdf
    from tessera.cards.tests.factories import CardTypeFactory

    card_type = CardTypeFactory(merchant=other_merchant, name="Thẻ vàng")
    batch = cards.generate_batch(merchant=other_merchant, card_type=card_type, quantity=2)

    data = card_sheet_pdf(
        Card.objects.filter(batch=batch).select_related("type"), merchant_name="茶馆 Tea House"
    )

    assert b"/BaseFont /STSong-Light" in data and b"DejaVuSansCondensed" in data
    assert b"/Helvetica-Bold" not in data
    text = pdf_strings(b"\n".join(s for s in pdf_streams(data) if b" Tj" in s))
    assert "茶馆".encode("utf-16-be") in text
