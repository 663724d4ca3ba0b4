"""Nightly tier re-evaluation over a large data set, against the same decision made in one SQL statement.

    .venv/bin/python bench/tiers.py [--members 1000000] [--chunk 10000] [--profile]
    .venv/bin/python bench/tiers.py --continuous [--members 100000] [--changed 0.01]

Seeds `--members` members of one merchant with a spend-based tier program (rolling 12 months, three
tiers) and, per member, what a year of trading leaves behind (one INSERT … SELECT per table):

- a points account with two EARN entries carrying the sale amount, one 13–23 months ago (outside the
  window) and one in the last 11 months, each with its lot; every 20th member also returned half of
  the recent sale (a REVERSAL entry and its lot use), so the ledger verifies;
- the member's current tier, earned when both sales were in the window (`MemberTier`), and that
  upgrade in the history (`TierChange`).

The review keeps a member's tier only if the recent sales (less returns) still reach it, so a share
of members is downgraded. On the same data:

1. the database's limit: one SQL transaction making the same decision and the same writes —
   rankings from the ledger, earned tier, downgrade the state, write the history, mark the program
   reviewed — timed and committed, then undone (not timed) so the review starts from the same data;
2. Tessera: `tessera.tiers.tasks.reevaluate_tiers()`, the scheduled task, timed (optionally sampled
   with py-spy).

Both must downgrade the same members. Prints seconds and members reviewed per second and the ratio;
writes bench/results/tiers.json.

`--continuous` (issue 15 §2) measures the hourly run of a continuous review instead: after a first
run (full, it sets the watermark), `--changed` of the members buy again and every 20th of those returns
a recent sale, half an hour later; the next hourly run is made twice on the same data — a full review
(rolled back: what every hourly run cost before) and the incremental one — which must lower the same
members. Recorded under the `continuous` key of bench/results/tiers.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tessera_bench_tiers")
os.environ.setdefault("BENCH_VAR_DIR", "/tmp/tessera-bench-tiers")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BIN, RESULTS, ROOT, django_setup, env, pin_hash, psql, reset_database, write_result

#: (code, name, rank, threshold in đồng)
TIERS = [
    ("silver", "Silver", 1, 1_000_000),
    ("gold", "Gold", 2, 5_000_000),
    ("diamond", "Diamond", 3, 15_000_000),
]
#: đồng per point earned by the seeded sales
DONG_PER_POINT = 10_000

SEED = """
BEGIN;
CREATE TEMP TABLE seed ON COMMIT DROP AS
SELECT i,
  (1 + (i * 7919) % 50)::bigint * 50000 AS old_sale,
  (1 + (i * 104729) % 40)::bigint * 500000 AS new_sale,
  (i % 20 = 0) AS returned,
  now() - make_interval(days => (400 + i % 300)::int) AS old_at,
  now() - make_interval(days => (1 + i % 330)::int) AS new_at
FROM generate_series({lo}::bigint, {hi}::bigint) AS i;

INSERT INTO members_member (created_at, updated_at, phone, full_name, email, address, region, gender,
  occupation, id_number, hobbies, preferences, notes, marketing_sms, marketing_email, status, status_reason,
  pin_hash, search_text, referral_code, merchant_id)
SELECT now(), now(), '+8490' || lpad(i::text, 7, '0'), 'Tier Member ' || i, '', '', '', '', '', '', '', '',
  '', false, false, 'active', '', '{pin_hash}', 'tier member ' || i, '', {merchant}
FROM seed;

CREATE TEMP TABLE seeded ON COMMIT DROP AS
SELECT s.*, m.id AS member_id,
  s.old_sale / {per_point} AS old_points, s.new_sale / {per_point} AS new_points,
  CASE WHEN s.returned THEN s.new_sale / {per_point} / 2 ELSE 0 END AS returned_points
FROM seed s JOIN members_member m
  ON m.merchant_id = {merchant} AND m.phone = '+8490' || lpad(s.i::text, 7, '0');

INSERT INTO ledger_account (created_at, updated_at, kind, balance, pending, held, member_id, merchant_id)
SELECT now(), now(), 'points', old_points + new_points - returned_points, 0, 0, member_id, {merchant}
FROM seeded;
CREATE TEMP TABLE acc ON COMMIT DROP AS
SELECT s.*, a.id AS account_id FROM seeded s JOIN ledger_account a ON a.member_id = s.member_id;

INSERT INTO ledger_entry (created_at, updated_at, kind, amount, balance_after, source, reason,
  reason_code, reason_args, sale_amount,
  occurred_at, account_id, merchant_id)
SELECT old_at, now(), 'earn', old_points, old_points, 'bench:old', '', '', '{{}}'::jsonb,
  old_sale, old_at, account_id,
  {merchant}
FROM acc
UNION ALL
SELECT new_at, now(), 'earn', new_points, old_points + new_points, 'bench:new', '', '', '{{}}'::jsonb,
  new_sale, new_at,
  account_id, {merchant}
FROM acc;
INSERT INTO ledger_entry (created_at, updated_at, kind, amount, balance_after, source, reason,
  reason_code, reason_args, occurred_at,
  account_id, merchant_id, reverses_id)
SELECT new_at + interval '1 day', now(), 'reversal', -returned_points,
  old_points + new_points - returned_points, 'bench:return', '', '', '{{}}'::jsonb,
    new_at + interval '1 day', acc.account_id,
  {merchant}, e.id
FROM acc JOIN ledger_entry e ON e.account_id = acc.account_id AND e.source = 'bench:new'
WHERE acc.returned;

INSERT INTO ledger_lot (created_at, updated_at, amount, remaining, earned_at, available_at, expires_at,
  released, account_id, entry_id, merchant_id)
SELECT now(), now(), e.amount,
  e.amount - CASE WHEN e.source = 'bench:new' THEN acc.returned_points ELSE 0 END,
  e.occurred_at, e.occurred_at, NULL, true, e.account_id, e.id, {merchant}
FROM acc JOIN ledger_entry e ON e.account_id = acc.account_id AND e.source IN ('bench:old', 'bench:new');
INSERT INTO ledger_lotuse (amount, entry_id, lot_id, merchant_id)
SELECT r.amount, r.id, l.id, {merchant}
FROM acc JOIN ledger_entry r ON r.account_id = acc.account_id AND r.source = 'bench:return'
JOIN ledger_lot l ON l.entry_id = r.reverses_id;

INSERT INTO tiers_membertier (created_at, updated_at, since, window_start, hold, member_id, merchant_id,
  tier_id)
SELECT old_at + interval '1 day', now(), new_at, new_at, '', member_id, {merchant},
  (SELECT t.id FROM tiers_tier t WHERE t.merchant_id = {merchant} AND t.threshold <= old_sale + new_sale
   ORDER BY t.rank DESC LIMIT 1)
FROM acc;
INSERT INTO tiers_tierchange (created_at, updated_at, reason, ranking, voucher_code, note, at, member_id,
  merchant_id, from_tier_id, to_tier_id)
SELECT s.window_start, now(), 'upgrade', acc.old_sale + acc.new_sale, '', '', s.window_start, acc.member_id,
  {merchant}, NULL, s.tier_id
FROM acc JOIN tiers_membertier s ON s.member_id = acc.member_id;
COMMIT;
"""

#: The review's decision for a rolling window, set-based: what `review_program` computes per chunk.
SET_BASED = """
BEGIN;
CREATE TEMP TABLE decided ON COMMIT DROP AS
WITH t AS (SELECT id, rank, threshold FROM tiers_tier WHERE merchant_id = {merchant}),
made AS (
  SELECT a.member_id, sum(e.sale_amount) AS v
  FROM ledger_entry e JOIN ledger_account a ON a.id = e.account_id
  WHERE e.merchant_id = {merchant} AND a.kind = 'points' AND e.kind = 'earn' AND e.sale_amount IS NOT NULL
    AND e.occurred_at >= {start} AND e.occurred_at <= {end}
  GROUP BY a.member_id
), returned AS (
  SELECT a.member_id, sum(o.sale_amount * e.amount / o.amount) AS v
  FROM ledger_entry e JOIN ledger_entry o ON o.id = e.reverses_id JOIN ledger_account a ON a.id = e.account_id
  WHERE e.merchant_id = {merchant} AND a.kind = 'points' AND e.kind = 'reversal' AND o.kind = 'earn'
    AND o.sale_amount IS NOT NULL AND o.occurred_at >= {start} AND o.occurred_at <= {end}
  GROUP BY a.member_id
), ranked AS (
  SELECT s.id, s.member_id, s.tier_id, cur.rank AS current_rank,
    coalesce(made.v, 0) + coalesce(returned.v, 0) AS ranking
  FROM tiers_membertier s JOIN members_member m ON m.id = s.member_id JOIN t cur ON cur.id = s.tier_id
  LEFT JOIN made ON made.member_id = s.member_id LEFT JOIN returned ON returned.member_id = s.member_id
  WHERE s.merchant_id = {merchant} AND s.hold = '' AND m.superseded_by_id IS NULL AND m.erased_at IS NULL
)
SELECT r.*, earned.id AS earned_id FROM ranked r
LEFT JOIN LATERAL (
  SELECT t.id, t.rank FROM t WHERE t.threshold <= r.ranking ORDER BY t.rank DESC LIMIT 1
) earned ON true
WHERE coalesce(earned.rank, 0) < r.current_rank;
UPDATE tiers_membertier s SET tier_id = d.earned_id, since = {end}, window_start = {end}, held_until = NULL,
  updated_at = {end}
FROM decided d WHERE s.id = d.id;
INSERT INTO tiers_tierchange (created_at, updated_at, reason, ranking, voucher_code, note, at, member_id,
  merchant_id, from_tier_id, to_tier_id)
SELECT now(), now(), 'downgrade', least(ranking, {max_safe}), '', '', {end}, member_id, {merchant}, tier_id,
  earned_id
FROM decided;
UPDATE tiers_tierprogram SET last_reviewed_at = {end} WHERE merchant_id = {merchant};
SELECT count(*) || '|' || coalesce(sum(hashtext(member_id::text || ':' || coalesce(earned_id, 0)::text)), 0)
FROM decided;
COMMIT;
"""

#: Before the statement: the tier states it may change, to put back afterwards (not timed).
KEEP_STATES = """
DROP TABLE IF EXISTS bench_states;
CREATE TABLE bench_states AS
SELECT id, tier_id, since, window_start, held_until, updated_at FROM tiers_membertier
WHERE merchant_id = {merchant};
"""
#: After the statement: undo its writes, so the review starts from the same data.
RESTORE_STATES = """
BEGIN;
UPDATE tiers_membertier s SET tier_id = b.tier_id, since = b.since, window_start = b.window_start,
  held_until = b.held_until, updated_at = b.updated_at
FROM bench_states b WHERE s.id = b.id AND s.since IS DISTINCT FROM b.since;
DELETE FROM tiers_tierchange WHERE merchant_id = {merchant} AND reason = 'downgrade';
UPDATE tiers_tierprogram SET last_reviewed_at = NULL WHERE merchant_id = {merchant};
DROP TABLE bench_states;
COMMIT;
"""


#: Half an hour after the first run, `{every}`-th members buy again (an EARN entry and its lot), and
#: every 20th of them returns the recent seeded sale in full (a REVERSAL entry and its lot use).
CHANGE = """
BEGIN;
CREATE TEMP TABLE changed ON COMMIT DROP AS
SELECT a.id AS account_id, a.member_id, (a.member_id / {every} % 20 = 1) AS returns
FROM ledger_account a WHERE a.merchant_id = {merchant} AND a.member_id % {every} = 0;
INSERT INTO ledger_entry (created_at, updated_at, kind, amount, balance_after, source, reason,
  reason_code, reason_args, sale_amount, occurred_at, account_id, merchant_id)
SELECT {at}, {at}, 'earn', 10, 0, 'bench:hourly', '', '', '{{}}'::jsonb, 100000, {at}, account_id,
  {merchant}
FROM changed;
INSERT INTO ledger_lot (created_at, updated_at, amount, remaining, earned_at, available_at, expires_at,
  released, account_id, entry_id, merchant_id)
SELECT {at}, {at}, 10, 10, {at}, {at}, NULL, true, e.account_id, e.id, {merchant}
FROM ledger_entry e WHERE e.merchant_id = {merchant} AND e.source = 'bench:hourly';
UPDATE ledger_account a SET balance = a.balance + 10 FROM changed c WHERE a.id = c.account_id;
CREATE TEMP TABLE undone ON COMMIT DROP AS
SELECT e.id, e.account_id, e.amount - coalesce((SELECT -sum(r.amount) FROM ledger_entry r
  WHERE r.reverses_id = e.id), 0) AS left_over
FROM changed c JOIN ledger_entry e ON e.account_id = c.account_id AND e.source = 'bench:new'
WHERE c.returns;
INSERT INTO ledger_entry (created_at, updated_at, kind, amount, balance_after, source, reason,
  reason_code, reason_args, occurred_at, account_id, merchant_id, reverses_id)
SELECT {at}, {at}, 'reversal', -left_over, 0, 'bench:hourly-return', '', '', '{{}}'::jsonb, {at},
  account_id, {merchant}, id
FROM undone WHERE left_over > 0;
INSERT INTO ledger_lotuse (amount, entry_id, lot_id, merchant_id)
SELECT r.amount, r.id, l.id, {merchant}
FROM ledger_entry r JOIN ledger_lot l ON l.entry_id = r.reverses_id
WHERE r.merchant_id = {merchant} AND r.source = 'bench:hourly-return';
UPDATE ledger_lot l SET remaining = l.remaining + r.amount
FROM ledger_entry r WHERE r.merchant_id = {merchant} AND r.source = 'bench:hourly-return'
  AND l.entry_id = r.reverses_id;
UPDATE ledger_account a SET balance = a.balance + r.amount
FROM ledger_entry r WHERE r.merchant_id = {merchant} AND r.source = 'bench:hourly-return'
  AND a.id = r.account_id;
COMMIT;
"""


def continuous(args: argparse.Namespace, merchant: Any, program: Any, load_before: tuple[float, ...]) -> None:
    """The hourly run of a continuous review: full (before) against incremental (after), same data."""
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from tessera.tenancy import config
    from tessera.tiers import services as tier_services
    from tessera.tiers.models import Review, TierChange, TierProgram

    TierProgram.objects.filter(pk=program.pk).update(review=Review.CONTINUOUS)
    program.refresh_from_db()
    first = timezone.now()
    t0 = time.monotonic()
    with config.observed(merchant.pk):  # as the hourly task runs it (`run_tier_jobs`)
        tier_services.review_program(program=program, now=first)
    first_s = time.monotonic() - t0
    every = round(1 / args.changed)
    half_hour = f"'{(first + timedelta(minutes=30)).isoformat()}'"
    psql(CHANGE.format(merchant=merchant.pk, every=every, at=half_hour))
    psql("VACUUM ANALYZE ledger_entry")
    changed = int(psql("SELECT count(*) FROM ledger_entry WHERE source = 'bench:hourly'"))
    hourly = first + timedelta(hours=1)

    def lowered() -> list[tuple[int, int | None]]:
        return sorted(
            TierChange.objects.filter(merchant=merchant, reason="downgrade", at=hourly).values_list(
                "member_id", "to_tier_id"
            )
        )

    class Undo(Exception):
        pass

    program.refresh_from_db()
    t0 = time.monotonic()
    try:
        with transaction.atomic(), config.observed(merchant.pk):
            full = tier_services.review_program(program=program, now=hourly, full=True)
            full_s = time.monotonic() - t0
            full_lowered = lowered()
            raise Undo
    except Undo:
        pass
    program.refresh_from_db()
    t0 = time.monotonic()
    with config.observed(merchant.pk):
        incremental = tier_services.review_program(program=program, now=hourly)
    incremental_s = time.monotonic() - t0
    load_after = os.getloadavg()
    assert incremental.incremental and not full.incremental
    assert lowered() == full_lowered, "the incremental review lowered other members than the full one"
    result = {
        "members": args.members,
        "changed_members": changed,
        "program": "ranking spend, rolling 12 months, continuous review (hourly)",
        "change": f"1 in {every} members bought again half an hour after the last run; every 20th of "
        "those also returned its recent sale in full",
        "first_run_full_seconds": round(first_s, 2),
        "hourly_full": {"seconds": round(full_s, 2), "reviewed": full.reviewed, "lowered": full.downgraded},
        "hourly_incremental": {
            "seconds": round(incremental_s, 2),
            "reviewed": incremental.reviewed,
            "lowered": incremental.downgraded,
        },
        "speedup": round(full_s / incremental_s, 1),
        "same_decision_as_full": True,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }
    print(
        f"hourly continuous review of {args.members:,} members, {changed:,} changed: full {full_s:.2f} s "
        f"({full.reviewed:,} reviewed) | incremental {incremental_s:.2f} s ({incremental.reviewed:,} "
        f"reviewed) | {full_s / incremental_s:.1f}× | both lowered {len(full_lowered):,}",
        flush=True,
    )
    path = RESULTS / "tiers.json"
    recorded = json.loads(path.read_text()) if path.exists() else {}
    recorded["continuous"] = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **result}
    path.write_text(json.dumps(recorded, indent=2, ensure_ascii=False) + "\n")
    print(f"written {path.relative_to(ROOT)}")


def seed(merchant_id: int, members: int) -> None:
    step = 250_000
    for lo in range(1, members + 1, step):
        hi = min(lo + step - 1, members)
        psql(SEED.format(lo=lo, hi=hi, merchant=merchant_id, per_point=DONG_PER_POINT, pin_hash=pin_hash()))
        print(f"  seeded members {lo:,}–{hi:,}", flush=True)
    psql("VACUUM ANALYZE")


def sample(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy over this process, idle (waiting on PostgreSQL) samples included."""
    spy = BIN / "py-spy" if (BIN / "py-spy").exists() else shutil.which("py-spy")
    if not spy:
        return None
    return subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--idle",
            "--format",
            "raw",
            "--rate",
            "50",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def summarise(stacks: Path) -> dict[str, Any]:
    """Share of wall-clock samples per function (inclusive; Tessera's frames with their line), and how
    many samples were inside psycopg (sending a statement or waiting for PostgreSQL's answer)."""
    inclusive: Counter[str] = Counter()
    total = in_psycopg = 0
    for line in stacks.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        if not any(f.startswith("reevaluate_tiers ") for f in frames):
            continue
        total += n
        if any("(psycopg/" in f for f in frames):
            in_psycopg += n
        seen: set[str] = set()
        for frame in frames[2:]:  # below <module> and main of this script
            name, _, where = frame.partition(" (")
            path = where.rstrip(")")
            if path.startswith(("django/", "psycopg/")):
                key = f"{name} ({path.rsplit(':', 1)[0]})"
            elif path.startswith(("<", "bench/")) or "/" not in path:
                continue
            else:
                key = f"{name} ({path})"
            if key not in seen:
                seen.add(key)
                inclusive[key] += n
    return {
        "samples": total,
        "in_psycopg_percent": round(100 * in_psycopg / total, 1) if total else None,
        "top_inclusive_percent": [(fn, round(100 * n / total, 1)) for fn, n in inclusive.most_common(25)]
        if total
        else [],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=None, help="review chunk size (default: the service's)")
    parser.add_argument("--profile", action="store_true", help="sample the review with py-spy")
    parser.add_argument(
        "--record-as",
        help="store the figures under this key of bench/results/tiers.json, beside the main ones",
    )
    parser.add_argument("--verify", action="store_true", help="also run `tessera verify-ledger` afterwards")
    parser.add_argument(
        "--continuous", action="store_true", help="measure the hourly run of a continuous review instead"
    )
    parser.add_argument("--changed", type=float, default=0.01, help="--continuous: share of members changed")
    args = parser.parse_args()

    load_before = os.getloadavg()
    reset_database()
    django_setup()
    from django.utils import timezone

    from tessera.core.limits import MAX_SAFE_INTEGER
    from tessera.tenancy import services as tenancy
    from tessera.tiers import services as tier_services
    from tessera.tiers.models import Basis, Review, Tier, TierChange, TierProgram, Window
    from tessera.tiers.selectors import review_window_start
    from tessera.tiers.tasks import reevaluate_tiers

    merchant = tenancy.create_merchant(
        name="Bench Café", slug="bench", currency="VND", time_zone="Asia/Ho_Chi_Minh", default_language="en"
    )
    program = TierProgram.objects.create(
        merchant=merchant,
        basis=Basis.SPEND,
        window=Window.ROLLING_MONTHS,
        window_months=12,
        review=Review.MONTHLY,
    )
    for code, name, rank, threshold in TIERS:
        Tier.objects.create(merchant=merchant, code=code, name=name, rank=rank, threshold=threshold)

    t0 = time.monotonic()
    seed(merchant.pk, args.members)
    seed_s = time.monotonic() - t0
    print(f"seeded {args.members:,} members with tiers, history and ledger in {seed_s:.1f} s", flush=True)
    if args.continuous:
        continuous(args, merchant, program, load_before)
        return

    candidates = int(
        psql(
            f"SELECT count(*) FROM tiers_membertier WHERE merchant_id = {merchant.pk} AND tier_id IS NOT NULL"
        )
    )
    now = timezone.now()
    start = review_window_start(program, now, merchant.tz)
    assert start is not None
    psql(KEEP_STATES.format(merchant=merchant.pk))
    t0 = time.monotonic()
    sql_out = psql(
        SET_BASED.format(
            merchant=merchant.pk,
            start=f"'{start.isoformat()}'",
            end=f"'{now.isoformat()}'",
            max_safe=MAX_SAFE_INTEGER,
        )
    )
    sql_s = time.monotonic() - t0
    sql_downgraded, sql_digest = (int(x) for x in sql_out.splitlines()[-1].split("|"))
    psql(RESTORE_STATES.format(merchant=merchant.pk))
    psql("VACUUM ANALYZE tiers_membertier")
    psql("VACUUM ANALYZE tiers_tierchange")

    chunk = args.chunk or tier_services.REVIEW_CHUNK
    tier_services.REVIEW_CHUNK = chunk
    review_defaults = tier_services.review_program.__kwdefaults__
    assert review_defaults is not None
    review_defaults["chunk_size"] = chunk
    profile: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        stacks = Path(os.environ.get("BENCH_STACKS", Path(tmp) / "stacks.txt"))
        spy = sample(os.getpid(), stacks) if args.profile else None
        if spy:
            time.sleep(1.0)  # let py-spy attach
        t0 = time.monotonic()
        results = reevaluate_tiers(now=now)
        app_s = time.monotonic() - t0
        if spy:
            spy.send_signal(2)
            spy.wait(timeout=120)
            profile = summarise(stacks) if stacks.exists() else None
    load_after = os.getloadavg()
    review = results[merchant.pk]
    app_digest = int(
        psql(
            f"SELECT coalesce(sum(hashtext(member_id::text || ':' || coalesce(to_tier_id, 0)::text)), 0) "
            f"FROM tiers_tierchange WHERE merchant_id = {merchant.pk} AND reason = 'downgrade'"
        )
    )
    downgrades = TierChange.objects.filter(merchant=merchant, reason="downgrade").count()
    assert review.reviewed == candidates, (review, candidates)
    assert review.downgraded == downgrades == sql_downgraded, (review, downgrades, sql_downgraded)
    assert app_digest == sql_digest, "the review and the SQL statement downgraded different members or tiers"

    result: dict[str, Any] = {
        "members": args.members,
        "reviewed": review.reviewed,
        "rows": "members reviewed: those with a tier and no hold (rows/s below counts these)",
        "downgraded": review.downgraded,
        "chunk_size": chunk,
        "program": "ranking spend, rolling 12 months, monthly review; tiers "
        + ", ".join(f"{name} ≥ {threshold:,}" for _, name, _, threshold in TIERS),
        "data": "per member: 2 EARN entries with sale amounts (one outside the window), every 20th a "
        "REVERSAL of half the recent one; a MemberTier and one TierChange",
        "seed_seconds": round(seed_s, 1),
        "sql_set_based": {"seconds": round(sql_s, 2), "rows_per_s": round(candidates / sql_s)},
        "reevaluate_tiers": {"seconds": round(app_s, 2), "rows_per_s": round(candidates / app_s)},
        "ratio_app_to_sql": round(sql_s / app_s, 3),
        "same_decision_as_sql": True,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }
    if profile is not None:
        result["profile"] = profile
    print(
        f"tier review of {candidates:,} members with a tier ({review.downgraded:,} downgraded): "
        f"SQL set-based {sql_s:.1f} s ({candidates / sql_s:,.0f} rows/s) | reevaluate_tiers {app_s:.1f} s "
        f"({candidates / app_s:,.0f} rows/s) | ratio {sql_s / app_s:.3f}",
        flush=True,
    )
    if profile:
        print(f"profile: {profile['in_psycopg_percent']} % of samples in psycopg")
        for fn, share in profile["top_inclusive_percent"][:12]:
            print(f"  {share:5.1f} %  {fn}")
    if args.verify:
        t0 = time.monotonic()
        check = subprocess.run(
            [str(BIN / "tessera"), "verify-ledger"], env=env(), capture_output=True, text=True
        )
        result["verify_ledger"] = {
            "exit": check.returncode,
            "seconds": round(time.monotonic() - t0, 1),
            "output": [ln for ln in (check.stdout + check.stderr).splitlines() if "Checked" in ln],
        }
        print(f"verify-ledger: {result['verify_ledger']}")
    if args.record_as:
        # Recorded beside the main figures, not instead of them.
        path = RESULTS / "tiers.json"
        recorded = json.loads(path.read_text()) if path.exists() else {}
        recorded[args.record_as] = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **result,
        }
        path.write_text(json.dumps(recorded, indent=2, ensure_ascii=False) + "\n")
    else:
        path = write_result("tiers", result)
    print(f"written {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
