"""Nightly point expiry over a large data set, against the same work done set-based in SQL (issue 7).

    .venv/bin/python bench/expiry.py [--members 1000000]

Seeds `--members` members, each with a points account holding one lot that expired yesterday (one
INSERT … SELECT per table). Then, on the same data:

1. the database's limit: one set-based SQL statement doing what expiry does — debit each account, write
   its EXPIRE entry and lot use, zero the lot — timed, then rolled back;
2. Tessera: `tessera.ledger.tasks.expire_points()`, timed.

Prints seconds and rows (accounts expired) per second for both and the ratio; writes
bench/results/expiry.json. Tier re-evaluation is not benchmarked yet (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BIN, ROOT, django_setup, env, psql, reset_database, seed_members, write_result

SET_BASED = """
BEGIN;
WITH due AS (
  SELECT id, account_id, merchant_id, remaining, released FROM ledger_lot
  WHERE remaining > 0 AND expires_at <= now()
), acc AS (
  UPDATE ledger_account a SET balance = a.balance - d.remaining, updated_at = now()
  FROM due d WHERE a.id = d.account_id
  RETURNING a.id, a.balance, a.merchant_id, d.remaining, d.id AS lot_id
), ent AS (
  INSERT INTO ledger_entry (created_at, updated_at, kind, amount, balance_after, source, reason,
    reason_code, reason_args, occurred_at,
    account_id, merchant_id)
  SELECT now(), now(), 'expire', -remaining, balance, '', '', '', '{}', now(), id, merchant_id FROM acc
  RETURNING id, account_id, amount, merchant_id
), uses AS (
  INSERT INTO ledger_lotuse (amount, entry_id, lot_id, merchant_id)
  SELECT ent.amount, ent.id, acc.lot_id, ent.merchant_id FROM ent JOIN acc ON acc.id = ent.account_id
)
UPDATE ledger_lot l SET remaining = 0, updated_at = now() FROM due d WHERE l.id = d.id;
ROLLBACK;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument(
        "--chunk", type=int, default=None, help="expire_points chunk size (default: the task's)"
    )
    parser.add_argument("--verify", action="store_true", help="also time `tessera verify-ledger` afterwards")
    args = parser.parse_args()

    reset_database()
    django_setup()
    from tessera.ledger.models import Entry, EntryKind
    from tessera.ledger.tasks import CHUNK, expire_points
    from tessera.tenancy import services as tenancy

    merchant = tenancy.create_merchant(
        name="Bench Café", slug="bench", currency="VND", time_zone="Asia/Ho_Chi_Minh", default_language="en"
    )
    t0 = time.monotonic()
    step = 250_000
    for start in range(0, args.members, step):
        seed_members(
            merchant_id=merchant.pk,
            count=min(step, args.members - start),
            balance=100,
            expires="now() - interval '1 day'",
            start=start,
        )
    seed_s = time.monotonic() - t0
    print(f"seeded {args.members} members, accounts, entries and lots in {seed_s:.1f} s", flush=True)

    t0 = time.monotonic()
    psql(SET_BASED)
    sql_s = time.monotonic() - t0
    psql("VACUUM ANALYZE ledger_lot")

    chunk = args.chunk or CHUNK
    t0 = time.monotonic()
    units = expire_points(chunk_size=chunk)
    app_s = time.monotonic() - t0
    entries = Entry.objects.filter(merchant=merchant, kind=EntryKind.EXPIRE).count()
    assert entries == args.members and units == 100 * args.members, (entries, units)

    result = {
        "members": args.members,
        "chunk_size": chunk,
        "seed_seconds": round(seed_s, 1),
        "sql_set_based": {"seconds": round(sql_s, 2), "rows_per_s": round(args.members / sql_s)},
        "expire_points": {"seconds": round(app_s, 2), "rows_per_s": round(args.members / app_s)},
        "ratio_app_to_sql": round(sql_s / app_s, 3),
        "tier_reevaluation": "not measured yet: the tiers app (tessera.tiers.tasks.reevaluate_tiers) is new",
    }
    print(
        f"expiry over {args.members} accounts: SQL set-based {sql_s:.1f} s "
        f"({args.members / sql_s:,.0f} rows/s)"
        f" | expire_points {app_s:.1f} s ({args.members / app_s:,.0f} rows/s) | ratio {sql_s / app_s:.3f}",
        flush=True,
    )
    if args.verify:
        t0 = time.monotonic()
        check = subprocess.run(
            [str(BIN / "tessera"), "verify-ledger"], env=env(), capture_output=True, text=True
        )
        result["verify_ledger"] = {
            "seconds": round(time.monotonic() - t0, 1),
            "output": [ln for ln in (check.stdout + check.stderr).splitlines() if "Checked" in ln],
        }
        print(f"verify-ledger: {result['verify_ledger']}")
    path = write_result("expiry", result)
    print(f"written {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
