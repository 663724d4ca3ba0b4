"""Report pages and API endpoints: permissions, store scope, exports, and no leak between merchants."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from tests.factories import staff_user

from tessera.core.periods import preset_period
from tessera.reports.selectors import REPORTS
from tessera.tenancy.models import Merchant
from tessera.tenancy.services import create_api_key

from .world import since_march, world

pytestmark = pytest.mark.django_db

#: Names only the first merchant's data contains: stores, members, card type.
SECRETS = ("Hoàn Kiếm", "Quận 1", "Trần Thị Bình", "Lê Văn Cường")


def signed_in(merchant: Merchant, *roles: str, **kwargs: object) -> Client:
    client = Client()
    client.force_login(staff_user(merchant, *roles, **kwargs).user)  # type: ignore[arg-type]
    return client


def page(client: Client, key: str, merchant: Merchant, **params: str) -> object:
    start, end = since_march(merchant)
    return client.get(
        reverse("reports:report", args=[key]), {"start": start.isoformat(), "end": end.isoformat(), **params}
    )


def test_index_lists_the_reports_each_role_may_see(merchant: Merchant) -> None:
    finance = signed_in(merchant, "finance").get(reverse("reports:index"))
    assert finance.status_code == 200
    assert [r.key for r in finance.context["reports"]] == list(REPORTS)
    marketing = signed_in(merchant, "marketing").get(reverse("reports:index"))
    assert [r.key for r in marketing.context["reports"]] == ["crm", "tiers"]
    assert signed_in(merchant, "cashier").get(reverse("reports:index")).status_code == 403


@pytest.mark.parametrize("key", list(REPORTS))
def test_each_report_page_shows_its_merchants_figures_and_nothing_to_another(
    merchant: Merchant, other_merchant: Merchant, key: str
) -> None:
    world(merchant)
    mine = page(signed_in(merchant, "merchant_admin"), key, merchant)
    assert mine.status_code == 200
    assert mine.context["result"].tables
    theirs = page(signed_in(other_merchant, "merchant_admin"), key, other_merchant)
    assert theirs.status_code == 200
    body = theirs.content.decode()
    assert not any(secret in body for secret in SECRETS)
    assert all(
        not t.rows or all(SECRETS[0] not in map(str, r) for r in t.rows)
        for t in theirs.context["result"].tables
    )
    # Picking the first merchant's store ids in the filter changes nothing: they are not offered.
    store_id = str(mine.context["form"].fields["stores"].choices[0][0])
    crossed = page(signed_in(other_merchant, "merchant_admin"), key, other_merchant, stores=store_id)
    assert not any(secret in crossed.content.decode() for secret in SECRETS)


@pytest.mark.parametrize("key", list(REPORTS))
def test_each_report_api_answers_for_the_keys_merchant_only(
    merchant: Merchant, other_merchant: Merchant, key: str
) -> None:
    world(merchant)
    start, end = since_march(merchant)
    url = f"/api/v1/reports/{key.replace('_', '-')}?start={start}&end={end}"
    mine = Client().get(
        url, HTTP_AUTHORIZATION=f"Bearer {create_api_key(merchant=merchant, name='HQ').raw_key}"
    )
    assert mine.status_code == 200, mine.content
    assert mine.json()["tables"]
    other_key = create_api_key(merchant=other_merchant, name="B").raw_key
    theirs = Client().get(url, HTTP_AUTHORIZATION=f"Bearer {other_key}")
    assert theirs.status_code == 200
    assert not any(secret in theirs.content.decode() for secret in SECRETS)
    assert Client().get(url).status_code == 401


def test_transactions_numbers_through_the_api(merchant: Merchant) -> None:
    w = world(merchant)
    start, end = since_march(merchant)
    key = create_api_key(merchant=merchant, name="HQ").raw_key
    body = (
        Client()
        .get(f"/api/v1/reports/sales?start={start}&end={end}", HTTP_AUTHORIZATION=f"Bearer {key}")
        .json()
    )
    stores = next(t for t in body["tables"] if t["key"] == "stores")
    assert stores["rows"][-1] == ["Total", 2, 300_000, 0, 1, 100_000, 200_000]
    store_key = create_api_key(merchant=merchant, name="Till A", store=w.shop.store_a).raw_key
    scoped = (
        Client()
        .get(f"/api/v1/reports/sales?start={start}&end={end}", HTTP_AUTHORIZATION=f"Bearer {store_key}")
        .json()
    )
    assert [r[0] for r in next(t for t in scoped["tables"] if t["key"] == "stores")["rows"]] == [
        "Hoàn Kiếm",
        "Total",
    ]
    bad = Client().get(f"/api/v1/reports/sales?start={end}&end={start}", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_period"
    # A till's key asking for another store's figures gets none (found by schemathesis: it was a 500).
    other = (
        Client()
        .get(
            f"/api/v1/reports/sales?start={start}&end={end}&stores={w.shop.store_b.pk}",
            HTTP_AUTHORIZATION=f"Bearer {store_key}",
        )
        .json()
    )
    frequency = next(t for t in other["tables"] if t["key"] == "frequency")
    assert all(row[1] == 0 for row in frequency["rows"])


def test_store_manager_sees_only_their_stores(merchant: Merchant) -> None:
    w = world(merchant)
    client = signed_in(merchant, "store_manager", stores=[w.shop.store_a])
    response = page(client, "sales", merchant)
    stores = response.context["result"].table("stores").rows
    assert [row[0] for row in stores] == ["Hoàn Kiếm", "Tổng cộng"]  # the staff's language: Vietnamese
    assert stores[-1][1:3] == (1, 200_000)
    settlement = page(client, "settlement", merchant).context["result"].table("net").rows
    assert settlement == [("Hoàn Kiếm", "Quận 1", 10, 0, 1_000)]  # a pair with their store is theirs too
    liability = page(client, "liability", merchant).context["result"].table("stores").rows
    assert [row[0] for row in liability] == ["Hoàn Kiếm", "Tổng cộng"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "pdf"])
def test_export_needs_the_print_permission(merchant: Merchant, fmt: str) -> None:
    world(merchant)
    finance = signed_in(merchant, "finance")
    response = page(finance, "sales", merchant, export=fmt, table="stores")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    if fmt == "csv":
        text = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
        assert "Hoàn Kiếm" in text and "200000" in text
    marketing = signed_in(merchant, "marketing")
    assert page(marketing, "sales", merchant, export=fmt).status_code == 403
    assert page(signed_in(merchant, "cashier"), "crm", merchant, export=fmt).status_code == 403


def test_marketing_sees_customer_reports_only(merchant: Merchant) -> None:
    world(merchant)
    marketing = signed_in(merchant, "marketing")
    assert page(marketing, "crm", merchant).status_code == 200
    assert page(marketing, "tiers", merchant).status_code == 200
    for key in ("sales", "card_audit", "staff", "liability", "settlement"):
        assert page(marketing, key, merchant).status_code == 403


def test_a_wrong_period_is_a_clear_error_and_shows_no_figures(merchant: Merchant) -> None:
    client = signed_in(merchant, "finance")
    response = client.get(
        reverse("reports:report", args=["sales"]), {"start": "2026-03-10", "end": "2026-03-01"}
    )
    assert response.status_code == 200
    assert "result" not in response.context
    assert response.context["form"].non_field_errors()


# --- period presets, styled filters and one export menu (issue 14) ---------------------------------------


def test_a_preset_sets_from_and_to_and_is_marked_as_the_one_in_use(merchant: Merchant) -> None:
    client = signed_in(merchant, "finance")
    today = timezone.localdate(timezone=merchant.tz)
    last_month_end = today.replace(day=1) - timedelta(days=1)
    url = reverse("reports:report", args=["sales"])

    for preset, start, end in [
        ("today", today, today),
        ("7d", today - timedelta(days=6), today),
        ("month", today.replace(day=1), today),
        ("last_month", last_month_end.replace(day=1), last_month_end),
    ]:
        response = client.get(url, {"period": preset})
        form = response.context["form"]
        assert (form.cleaned_data["start"], form.cleaned_data["end"]) == (start, end), preset
        in_use = [key for key, _label, _url, current in response.context["presets"] if current]
        # One preset is marked; two can name the same days (today = this month on the 1st, the last
        # 7 days = this month on the 7th), so the marked one is compared by its days, not its key.
        marked = preset_period(in_use[0], today=today) if len(in_use) == 1 else None
        assert marked is not None and (marked.start, marked.end) == (start, end), (preset, in_use)
        # Exports keep the dates the page shows, not the preset's name.
        assert f"start={start.isoformat()}" in response.context["query"]
        assert "period=" not in response.context["query"]

    custom = client.get(url, {"start": "2026-01-03", "end": "2026-01-09"})
    assert not any(current for *_rest, current in custom.context["presets"])


def test_the_filters_are_unfolds_widgets_and_the_dates_are_labelled_from_and_to(merchant: Merchant) -> None:
    world(merchant)
    body = page(signed_in(merchant, "finance"), "sales", merchant).content.decode()

    assert 'type="date" name="start"' in body and 'type="date" name="end"' in body
    form = body[body.index('id="report-filters"') :]
    assert form.count("border-base-200") >= 4  # Unfold's classes on both dates, the stores and the card type
    with translation.override("vi"):
        assert f">{translation.gettext('From')}</label>" in body
        assert f">{translation.gettext('To')}</label>" in body


def test_one_export_menu_lists_every_table_and_format(merchant: Merchant) -> None:
    world(merchant)

    response = page(signed_in(merchant, "finance"), "sales", merchant)

    body = response.content.decode()
    tables = [table["key"] for table in response.context["tables"]]
    assert body.count('id="export-menu"') == 1 and "<details" in body
    assert body.count("data-export=") == 3 * len(tables)
    assert 'data-table="stores"' in body and "export=csv&amp;table=stores" in body
    assert "<script>" not in body[body.index('id="report"') :]  # no inline script (CSP)
