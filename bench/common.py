"""Shared by the benchmarks: the bench database, a fast SQL seeder, the machine, result files.

Everything runs against PostgreSQL (`BENCH_DATABASE_URL`, default the `tessera_bench` database on
127.0.0.1), which is dropped and re-created at the start of each benchmark.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tessera_bench")
VAR_DIR = os.environ.get("BENCH_VAR_DIR", "/tmp/tessera-bench")
PIN = "2468"


def dsn_parts() -> dict[str, str]:
    from urllib.parse import urlparse

    u = urlparse(DATABASE_URL)
    return {
        "host": u.hostname or "127.0.0.1",
        "port": str(u.port or 5432),
        "user": u.username or "postgres",
        "dbname": u.path.lstrip("/"),
    }


#: One secret for the seeding process and the web server: member PINs are keyed hashes of it.
SECRET_KEY = "bench-" + uuid.uuid4().hex * 2


def env(**extra: str) -> dict[str, str]:
    base = dict(os.environ)
    base.update(DATABASE_URL=DATABASE_URL, TESSERA_VAR_DIR=VAR_DIR, SECRET_KEY=SECRET_KEY, **extra)
    base.setdefault("TESSERA_ENV", "development")
    # One till key drives the whole load: its rate limit (issue 17) would be what is measured.
    base.setdefault("TESSERA_RATE_LIMITS", "pos=100000000/minute")
    return base


def psql(sql: str, *, db: str | None = None) -> str:
    p = dsn_parts()
    out = subprocess.run(
        [
            "psql",
            "-h",
            p["host"],
            "-p",
            p["port"],
            "-U",
            p["user"],
            "-d",
            db or p["dbname"],
            "-v",
            "ON_ERROR_STOP=1",
            "-qtAc",
            sql,
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"psql failed: {out.stderr}")
    return out.stdout.strip()


def reset_database() -> None:
    """Drop and re-create the bench database and migrate it (production code path: `tessera migrate`)."""
    p = dsn_parts()
    psql(f'DROP DATABASE IF EXISTS "{p["dbname"]}" WITH (FORCE)', db="postgres")
    psql(f'CREATE DATABASE "{p["dbname"]}"', db="postgres")
    (Path(VAR_DIR) / "static").mkdir(parents=True, exist_ok=True)
    subprocess.run([str(BIN / "tessera"), "migrate", "--noinput", "-v0"], env=env(), check=True)


def django_setup() -> None:
    os.environ.update(env())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tessera.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def seed_members(*, merchant_id: int, count: int, balance: int, expires: str | None, start: int = 0) -> None:
    """`count` active members with phones +8490NNNNNNN, each with a points account holding `balance`
    in one released lot (expiring at `expires`, an SQL expression, or never): one INSERT … SELECT per
    table, the same rows the ledger services would write (entry, lot, account), so verify-ledger holds."""
    exp = expires or "NULL"
    start_id = psql("SELECT coalesce(max(id), 0) FROM members_member")
    psql(
        f"""
        BEGIN;
        INSERT INTO members_member (created_at, updated_at, phone, full_name, email, address, region, gender,
          occupation, id_number, hobbies, preferences, notes, marketing_sms, marketing_email, status,
          status_reason, pin_hash, search_text, referral_code, merchant_id)
        SELECT now(), now(), '+8490' || lpad(i::text, 7, '0'), 'Bench Member ' || i, '', '', '', '', '', '',
          '', '', '', false, false, 'active', '', :'pin_hash', 'bench member ' || i, '', {merchant_id}
        FROM generate_series({start + 1}, {start + count}) AS i;
        INSERT INTO ledger_account (created_at, updated_at, kind, balance, pending, held, member_id,
          merchant_id)
        SELECT now(), now(), 'points', {balance}, 0, 0, id, merchant_id FROM members_member
        WHERE merchant_id = {merchant_id} AND id > {start_id};
        INSERT INTO ledger_entry (created_at, updated_at, kind, amount, balance_after, source, reason,
          reason_code, reason_args, occurred_at, account_id, merchant_id)
        SELECT now() - interval '400 days', now(), 'earn', {balance}, {balance}, 'bench', '', '', '{{}}',
          now() - interval '400 days', a.id, a.merchant_id
        FROM ledger_account a WHERE a.merchant_id = {merchant_id} AND a.member_id > {start_id};
        INSERT INTO ledger_lot (created_at, updated_at, amount, remaining, earned_at, available_at,
          expires_at, released, account_id, entry_id, merchant_id)
        SELECT now(), now(), e.amount, e.amount, e.occurred_at, e.occurred_at, {exp}, true, e.account_id,
          e.id, e.merchant_id
        FROM ledger_entry e JOIN ledger_account a ON a.id = e.account_id
        WHERE e.merchant_id = {merchant_id} AND e.source = 'bench' AND a.member_id > {start_id};
        COMMIT;
        """.replace(":'pin_hash'", "'" + pin_hash() + "'")
    )
    psql("VACUUM ANALYZE")


_PIN_HASH: list[str] = []


def pin_hash() -> str:
    """The stored form of PIN, as the members service writes it, shared by every bench member."""
    if not _PIN_HASH:
        from tessera.members.services import hash_pin

        _PIN_HASH.append(hash_pin(PIN))
    return _PIN_HASH[0]


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": psql("SHOW server_version"),
        "pgbench": (
            subprocess.run(["pgbench", "--version"], capture_output=True, text=True).stdout.strip()
            if shutil.which("pgbench")
            else None
        ),
        "note": "web server, load generator, pgbench and PostgreSQL share the same machine",
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {
        "benchmark": name,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        **data,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return path


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def workers_of(server_pid: int) -> list[int]:
    """The child processes of a server (gunicorn's workers)."""
    try:
        return [int(p) for p in Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()]
    except OSError:
        return []


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]
