"""Reports over 10,000,000 transactions (issue 7: "A report over 10,000,000 transactions: seconds").

    .venv/bin/python bench/reports.py [--transactions 10000000] [--members 1000000] [--stores 20] [--resume]

Fills a fresh PostgreSQL database (`BENCH_DATABASE_URL`, default `tessera_bench_reports`; dropped and
re-created) with one merchant, `--stores` stores, `--members` members and, over two years,
`--transactions` confirmed sales (3 % voided), an EARN entry and lot for each sale of 10,000 đ or more,
and for one earn in five a SPEND of it a few days later in another store, with its lot use: about ten
million ledger entries. Rows are written with INSERT … SELECT over generate_series (the same columns the
services write); then the reports' daily tables are built by `tessera.reports.aggregates.rebuild` (the
code behind `tessera rebuild_report_aggregates`).

Then, for the last year, each report is timed through its selector (what the page and the API run),
with 5,000 deltas waiting to be folded (the compaction runs every minute: about a minute of a busy
merchant's entries), and the same figure is timed as one SQL query over the raw tables: the database's own
limit without pre-aggregation. Prints seconds and ratios, the compaction rate, the machine's load
average; writes bench/results/reports.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tessera_bench_reports")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import django_setup, psql, reset_database, write_result

DAYS = 730
#: Sales whose ledger rows are written in one transaction.
SALES_CHUNK = 500_000
#: Deltas waiting while the reports are timed: about a minute of a busy merchant (80 entries a second).
PENDING_DELTAS = 5_000


def seed(*, transactions: int, members: int, stores: int) -> dict[str, Any]:
    """Each step is one transaction; with --resume, a step whose rows are there is skipped."""
    from django.contrib.auth import get_user_model

    from tessera.sales.models import SalesSettings
    from tessera.tenancy import services as tenancy
    from tessera.tenancy.models import Merchant, Store

    merchant = Merchant.objects.filter(slug="bench").first()
    if merchant is None:
        merchant = tenancy.create_merchant(
            name="Bench", slug="bench", currency="VND", time_zone="Asia/Ho_Chi_Minh", default_language="vi"
        )
        SalesSettings.for_merchant(merchant)
        for n in range(stores):
            Store.objects.create(merchant=merchant, code=f"s{n:02d}", name=f"Store {n:02d}")
        for n in range(stores * 2):
            get_user_model().objects.create(username=f"bench-staff-{n}")
    store_ids = list(Store.objects.filter(merchant=merchant).values_list("pk", flat=True))
    users = list(
        get_user_model().objects.filter(username__startswith="bench-staff-").values_list("pk", flat=True)
    )
    m = merchant.pk
    first_store, first_user = min(store_ids), min(users)
    timings: dict[str, float] = {}
    done = {
        "members": f"SELECT count(*) FROM members_member WHERE merchant_id = {m}",
        "sales": f"SELECT count(*) FROM sales_transaction WHERE merchant_id = {m}",
        "earn entries": f"SELECT count(*) FROM ledger_entry WHERE merchant_id = {m} AND kind = 'earn'",
        "lots": f"SELECT count(*) FROM ledger_lot WHERE merchant_id = {m}",
        "spend entries and lot uses": f"SELECT count(*) FROM ledger_lotuse WHERE merchant_id = {m}",
    }

    def step(name: str, sql: str) -> None:
        if name in done and int(psql(done[name])) > 0:
            print(f"  {name}: already there", flush=True)
            return
        started = time.monotonic()
        psql(sql)
        timings[name] = round(time.monotonic() - started, 1)
        print(f"  {name}: {timings[name]} s", flush=True)

    step(
        "members",
        f"""INSERT INTO members_member (created_at, updated_at, phone, full_name, email, address, region,
              gender, occupation, id_number, hobbies, preferences, notes, marketing_sms, marketing_email,
              status, status_reason, pin_hash, search_text, referral_code, merchant_id, birthday)
            SELECT now(), now(), '+8490' || lpad(i::text, 7, '0'), 'Bench Member ' || i, '', '',
              'Region ' || (i % 63), '', 'Occupation ' || (i % 40), '', '', '', '', false, false, 'active',
              '', '',
              'bench member ' || i, '', {m}, date '1950-01-01' + (i % 20000)
            FROM generate_series(1, {members}) AS i;
          INSERT INTO ledger_account (created_at, updated_at, kind, balance, pending, held, member_id,
              merchant_id)
            SELECT now(), now(), 'points', 0, 0, 0, id, merchant_id FROM members_member
            WHERE merchant_id = {m};""",
    )
    first_member = int(psql(f"SELECT min(id) FROM members_member WHERE merchant_id = {m}"))
    step(
        "sales",
        f"""INSERT INTO sales_transaction (created_at, updated_at, channel, status, currency, total_amount,
              discount_amount, points_earned, earn_explanation, points_to_spend, stored_value_to_spend,
              external_ref, note, occurred_at, confirm_method, failed_confirmations, otp_hash, void_reason,
              member_id, merchant_id, store_id, earning_parts, confirmed_at)
            SELECT t, t, 'pos', CASE WHEN i % 33 = 0 THEN 'voided' ELSE 'confirmed' END, 'VND', amount, 0,
              amount / 10000, '', 0, 0, '', '', t, 'pin', 0, '', '', {first_member} + (i * 7919) % {members},
              {m}, {first_store} + i % {stores}, '[]'::jsonb, t
            FROM (SELECT i,
                    now() - interval '{DAYS} days'
                      + (i::float / {transactions}) * interval '{DAYS} days' AS t,
                    ((i * 104729) % 50) * 10000 + 5000 AS amount
                  FROM generate_series(1::bigint, {transactions}) AS i) s;""",
    )
    # The ledger rows of each chunk of sales in one transaction (earn entries, their lots, a spend of one
    # lot in five in another store three days later, and its lot use), so an interrupted run resumes.
    low, high = (
        int(v)
        for v in psql(f"SELECT min(id), max(id) FROM sales_transaction WHERE merchant_id = {m}").split("|")
    )
    started = time.monotonic()
    for lo in range(low, high + 1, SALES_CHUNK):
        hi = min(lo + SALES_CHUNK - 1, high)
        last = psql(
            f"SELECT max(id) FROM sales_transaction WHERE id BETWEEN {lo} AND {hi} AND points_earned > 0"
        )
        if psql(f"SELECT count(*) FROM ledger_entry WHERE source = 'sale:{last}'") != "0":
            continue
        psql(
            f"""WITH earn AS (
                  INSERT INTO ledger_entry (created_at, updated_at, kind, amount, balance_after, source,
                    reason, reason_code, reason_args, occurred_at, account_id, merchant_id, store_id,
                    sale_amount, created_by_id)
                  SELECT x.occurred_at, x.occurred_at, 'earn', x.points_earned, x.points_earned,
                    'sale:' || x.id, '', '', '{{}}',
                      x.occurred_at, a.id, x.merchant_id, x.store_id, x.total_amount,
                    CASE WHEN x.id % 10 < 3 THEN {first_user} + x.id % {len(users)} END
                  FROM sales_transaction x
                  JOIN ledger_account a ON a.member_id = x.member_id AND a.kind = 'points'
                  WHERE x.id BETWEEN {lo} AND {hi} AND x.points_earned > 0
                  RETURNING id, occurred_at, amount, account_id, merchant_id, store_id, created_by_id
                ), lots AS (
                  INSERT INTO ledger_lot (created_at, updated_at, amount, remaining, earned_at, available_at,
                    expires_at, released, account_id, entry_id, merchant_id)
                  SELECT occurred_at, occurred_at, amount, CASE WHEN id % 5 = 0 THEN 0 ELSE amount END,
                    occurred_at, occurred_at, NULL, true, account_id, id, merchant_id
                  FROM earn
                  RETURNING id, entry_id, amount, remaining, account_id, merchant_id
                ), spends AS (
                  INSERT INTO ledger_entry (created_at, updated_at, kind, amount, balance_after, source,
                    reason,
                      reason_code, reason_args, occurred_at, account_id, merchant_id, store_id, created_by_id)
                  SELECT t, t, 'spend', -l.amount, 0, 'lot:' || l.id, '', '', '{{}}',
                    t, l.account_id, l.merchant_id,
                    {first_store} + (e.store_id - {first_store} + 3) % {stores}, e.created_by_id
                  FROM lots l JOIN earn e ON e.id = l.entry_id
                  CROSS JOIN LATERAL (SELECT LEAST(e.occurred_at + interval '3 days', now()) AS t) s
                  WHERE l.remaining = 0
                  RETURNING id, amount, source, merchant_id
                )
                INSERT INTO ledger_lotuse (amount, entry_id, lot_id, merchant_id)
                SELECT amount, id, substring(source from 5)::bigint, merchant_id FROM spends;"""
        )
        print(f"  ledger rows for sales {lo}–{hi}: {time.monotonic() - started:.0f} s", flush=True)
    timings["ledger rows"] = round(time.monotonic() - started, 1)
    step("analyze", "VACUUM ANALYZE")
    counts = {
        "sales": int(psql(f"SELECT count(*) FROM sales_transaction WHERE merchant_id = {m}")),
        "ledger_entries": int(psql(f"SELECT count(*) FROM ledger_entry WHERE merchant_id = {m}")),
        "lots": int(psql(f"SELECT count(*) FROM ledger_lot WHERE merchant_id = {m}")),
        "lot_uses": int(psql(f"SELECT count(*) FROM ledger_lotuse WHERE merchant_id = {m}")),
        "members": members,
        "stores": stores,
    }
    return {"merchant_id": m, "seed_seconds": timings, "rows": counts}


def best_of(fn: Any, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def crm_from_members(scope: Any, filters: Any) -> None:
    """The customers report's queries before issue 16: the whole birthday list of the month, and the age
    bands, regions and occupations counted from the members table."""
    from django.db.models import Count, Q

    from tessera.reports import selectors

    members = selectors._members(scope, filters)
    list(
        members.filter(birthday__month=filters.end.month)
        .order_by("birthday__day", "full_name")
        .values_list("full_name", "phone", "birthday", "region", "home_store__name")
    )
    today = scope.today()
    bands = {}
    for low, high in selectors.AGE_BANDS:
        condition = Q(birthday__lte=selectors._years_before(today, low))
        if high is not None:
            condition &= Q(birthday__gt=selectors._years_before(today, high + 1))
        bands[f"{low}-{high}"] = Count("pk", filter=condition)
    members.aggregate(**bands, unknown=Count("pk", filter=Q(birthday__isnull=True)))
    for field in ("region", "occupation"):
        list(members.values(field).annotate(n=Count("pk")).order_by("-n", field)[:20])


def issue_16_timings(scope: Any, today: date) -> dict[str, Any]:
    """The transactions report for each period preset and the last whole month, with the shopping
    frequency read as the report reads it (month rows for whole months) and counted from the sales (as
    before issue 16); the customers report's first page, its export (every birthday) and the old queries."""
    from unittest import mock

    from tessera.core import periods
    from tessera.reports import selectors

    found: dict[str, Any] = {}
    for key in (periods.TODAY, periods.LAST_7_DAYS, periods.THIS_MONTH, periods.LAST_MONTH):
        period = periods.preset_period(key, today=today)
        filters = selectors.Filters(start=period.start, end=period.end)
        now = best_of(lambda filters=filters: selectors.sales_report(scope, filters))
        with mock.patch.object(selectors, "_whole_months", lambda merchant, filters: False):
            before = best_of(lambda filters=filters: selectors.sales_report(scope, filters))
        found[f"sales {key}"] = {"seconds": round(now, 3), "counted_from_sales_seconds": round(before, 3)}
    period = periods.preset_period(periods.THIS_MONTH, today=today)
    filters = selectors.Filters(start=period.start, end=period.end)
    found["crm first page"] = {
        "seconds": round(best_of(lambda: selectors.crm_report(scope, replace(filters, page=1))), 3)
    }
    found["crm export (all birthdays)"] = {
        "seconds": round(best_of(lambda: selectors.crm_report(scope, filters)), 3)
    }
    found["crm before issue 16"] = {"seconds": round(best_of(lambda: crm_from_members(scope, filters)), 3)}
    for key, figures in found.items():
        extra = (
            f"; frequency counted from the sales: {figures['counted_from_sales_seconds']} s"
            if "counted_from_sales_seconds" in figures
            else ""
        )
        print(f"  {key:<28} {figures['seconds']:>7.3f} s{extra}", flush=True)
    return found


def raw_sql(merchant_id: int, start: date, end: date) -> dict[str, str]:
    """Each report's main figure computed straight from the raw tables, for the same year."""
    zone = "'Asia/Ho_Chi_Minh'"
    period = f"BETWEEN '{start}'::date AND '{end}'::date"
    return {
        "sales": f"""SELECT x.store_id, (x.occurred_at AT TIME ZONE {zone})::date, count(*),
              sum(x.total_amount)
            FROM sales_transaction x WHERE x.merchant_id = {merchant_id} AND x.status = 'confirmed'
              AND (x.occurred_at AT TIME ZONE {zone})::date {period} GROUP BY 1, 2""",
        "staff": f"""SELECT (e.occurred_at AT TIME ZONE {zone})::date, e.created_by_id,
              sum(greatest(e.amount, 0)), sum(greatest(-e.amount, 0)), count(*)
            FROM ledger_entry e JOIN ledger_account a ON a.id = e.account_id
            WHERE e.merchant_id = {merchant_id} AND a.kind = 'points'
              AND (e.occurred_at AT TIME ZONE {zone})::date {period} GROUP BY 1, 2""",
        "liability": f"""SELECT e.store_id, a.kind, sum(l.remaining) FROM ledger_lot l
            JOIN ledger_entry e ON e.id = l.entry_id JOIN ledger_account a ON a.id = l.account_id
            WHERE l.merchant_id = {merchant_id} AND l.remaining > 0 GROUP BY 1, 2""",
        "settlement": f"""SELECT le.store_id, e.store_id, a.kind, -sum(u.amount) FROM ledger_lotuse u
            JOIN ledger_entry e ON e.id = u.entry_id JOIN ledger_lot l ON l.id = u.lot_id
            JOIN ledger_entry le ON le.id = l.entry_id JOIN ledger_account a ON a.id = e.account_id
            WHERE u.merchant_id = {merchant_id} AND e.kind = 'spend'
              AND (e.occurred_at AT TIME ZONE {zone})::date {period} GROUP BY 1, 2, 3""",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--transactions", type=int, default=10_000_000)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument(
        "--resume", action="store_true", help="keep the bench database; skip the seeding steps already done"
    )
    args = parser.parse_args()

    load_before = os.getloadavg()
    if not args.resume:
        print("Creating the bench database…", flush=True)
        reset_database()
    django_setup()
    from django.db import connection

    from tessera.reports import aggregates
    from tessera.reports.selectors import REPORTS, Filters, ReportScope
    from tessera.tenancy.models import Merchant

    print(f"Seeding {args.transactions:,} sales…", flush=True)
    seeded = seed(transactions=args.transactions, members=args.members, stores=args.stores)
    merchant = Merchant.objects.get(pk=seeded["merchant_id"])

    print("Building the daily tables (rebuild_report_aggregates)…", flush=True)
    started = time.monotonic()
    aggregates.rebuild(merchant=merchant)
    rebuild_seconds = round(time.monotonic() - started, 1)
    psql("VACUUM ANALYZE")
    daily_rows = {
        t: int(psql(f"SELECT count(*) FROM {t}"))
        for t in (
            "reports_ledgerday",
            "reports_lotflowday",
            "reports_salesday",
            "reports_membervisits",
            "reports_membercount",
        )
    }
    print(f"  {rebuild_seconds} s; daily rows: {daily_rows}", flush=True)

    # Deltas waiting to be folded, as the hooks write them: copies of the latest entries' keys.
    psql(
        f"""INSERT INTO reports_entrydelta (merchant_id, entry_id, day, store_id, account_kind, kind,
              reversed_kind, actor_id, amount, sale_amount)
            SELECT e.merchant_id, e.id, (e.occurred_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date,
              coalesce(e.store_id, 0), 'points', e.kind, '', coalesce(e.created_by_id, 0), e.amount,
              coalesce(e.sale_amount, 0)
            FROM ledger_entry e WHERE e.merchant_id = {merchant.pk} ORDER BY e.id DESC LIMIT {PENDING_DELTAS};
          ANALYZE reports_entrydelta;"""
    )

    scope = ReportScope(merchant)
    today = scope.today()
    start, end = today - timedelta(days=364), today
    filters = Filters(start=start, end=end)
    print(f"Timing each report for {start} – {end} (best of 3)…", flush=True)
    reports: dict[str, Any] = {}
    for key, spec in REPORTS.items():
        seconds = best_of(lambda spec=spec: spec.build(scope, filters))
        reports[key] = {"seconds": round(seconds, 3)}
    for key, sql in raw_sql(merchant.pk, start, end).items():

        def run(sql: str = sql) -> None:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                cursor.fetchall()

        raw = best_of(run, runs=2)
        reports[key]["raw_scan_seconds"] = round(raw, 3)
        reports[key]["raw_scan_over_report"] = round(raw / reports[key]["seconds"], 1)
    for key, figures in reports.items():
        extra = (
            f"; raw scan {figures['raw_scan_seconds']} s ({figures['raw_scan_over_report']}× the report)"
            if "raw_scan_seconds" in figures
            else ""
        )
        print(f"  {key:<11} {figures['seconds']:>7.3f} s{extra}", flush=True)

    print("Issue 16: presets, a whole month, the customers report's first page (best of 3)…", flush=True)
    issue_16 = issue_16_timings(scope, today)

    started = time.monotonic()
    folded = aggregates.compact()
    compact_seconds = time.monotonic() - started
    print(f"Compaction: {folded:,} deltas folded in {compact_seconds:.1f} s", flush=True)

    load_after = os.getloadavg()
    path = write_result(
        "reports",
        {
            "parameters": vars(args) | {"days": DAYS, "period": [str(start), str(end)]},
            **seeded,
            "rebuild_seconds": rebuild_seconds,
            "daily_rows": daily_rows,
            "pending_deltas_while_timing": PENDING_DELTAS,
            "reports": reports,
            "issue_16": issue_16,
            "compaction": {
                "deltas": folded,
                "seconds": round(compact_seconds, 2),
                "per_second": round(folded / compact_seconds),
            },
            "load_average": {"before": load_before, "after": load_after},
            "note": "2 cores shared with other work; raw_scan is one SQL query over the raw tables for the "
            "report's main figure, the database's own limit without the daily tables",
        },
    )
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()
