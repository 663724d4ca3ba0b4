"""POS throughput through the HTTP API against PostgreSQL's own limit, in the same run (issue 7).

    .venv/bin/python bench/pos.py [--seconds 20] [--clients 16] [--workers 4] [--profile]

For each operation — earn (POST /points/add), spend with confirm (POST /transactions + POST
/transactions/{id}/confirm with the member's PIN) and balance lookup (GET /lookup?phone=) — it runs
`--clients` concurrent HTTP clients against gunicorn serving Tessera with production settings, then
pgbench running the equivalent SQL transaction at the same concurrency on the same database, and
prints both rates, the ratio and p50/p99 latency. Results: bench/results/pos.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BIN,
    PIN,
    ROOT,
    cpu_seconds,
    django_setup,
    dsn_parts,
    env,
    pct,
    psql,
    reset_database,
    seed_members,
    workers_of,
    write_result,
)

MEMBERS = 20_000
PORT = 8765
START_BALANCE = 10_000_000

PGBENCH = {
    "earn": """
\\set aid random(:lo, :hi)
BEGIN;
UPDATE ledger_account SET balance = balance + 10, updated_at = now() WHERE id = :aid;
INSERT INTO ledger_entry (created_at, updated_at, kind, amount, balance_after, source, reason,
  reason_code, reason_args, occurred_at,
  account_id, merchant_id) SELECT now(), now(), 'earn', 10, balance, 'pgbench', '', '', '{}',
    now(), id, merchant_id
  FROM ledger_account WHERE id = :aid;
END;
""",
    "spend": """
\\set aid random(:lo, :hi)
BEGIN;
SELECT balance, pending, held FROM ledger_account WHERE id = :aid FOR UPDATE;
UPDATE ledger_account SET balance = balance - 10, updated_at = now() WHERE id = :aid;
INSERT INTO ledger_entry (created_at, updated_at, kind, amount, balance_after, source, reason,
  reason_code, reason_args, occurred_at,
  account_id, merchant_id) SELECT now(), now(), 'spend', -10, balance, 'pgbench', '', '', '{}',
    now(), id, merchant_id
  FROM ledger_account WHERE id = :aid;
END;
""",
    "lookup": """
\\set i random(1, :n)
SELECT a.balance, a.pending, a.held FROM members_member m JOIN ledger_account a
  ON a.member_id = m.id AND a.kind = 'points'
  WHERE m.merchant_id = :merchant AND m.phone = '+8490' || lpad(:i::text, 7, '0')
    AND m.erased_at IS NULL AND m.superseded_by_id IS NULL;
""",
}


def setup() -> dict[str, Any]:
    reset_database()
    django_setup()
    from tessera.points.services import save_policy
    from tessera.sales.models import SalesSettings
    from tessera.tenancy import services as tenancy
    from tessera.tenancy.models import Store

    merchant = tenancy.create_merchant(
        name="Bench Café", slug="bench", currency="VND", time_zone="Asia/Ho_Chi_Minh", default_language="en"
    )
    store = Store.objects.create(merchant=merchant, code="q1", name="Quận 1")
    save_policy(merchant=merchant, pending_days=0)
    rules = SalesSettings.for_merchant(merchant)
    rules.confirm_attempt_limit = 5
    rules.save()
    key = tenancy.create_api_key(merchant=merchant, name="Bench till", store=store).raw_key
    seed_members(merchant_id=merchant.pk, count=MEMBERS, balance=START_BALANCE, expires=None)
    # pgbench writes bare entries (no lots), which verify-ledger would rightly flag: it gets its own
    # merchant with the same members and balances, so the HTTP merchant's ledger can be verified after.
    twin = tenancy.create_merchant(
        name="pgbench twin",
        slug="pgbench",
        currency="VND",
        time_zone="Asia/Ho_Chi_Minh",
        default_language="en",
    )
    seed_members(merchant_id=twin.pk, count=MEMBERS, balance=START_BALANCE, expires=None)
    lo, hi = psql(f"SELECT min(id), max(id) FROM ledger_account WHERE merchant_id = {twin.pk}").split("|")
    return {"merchant": merchant.pk, "twin": twin.pk, "key": key, "lo": int(lo), "hi": int(hi)}


def start_gunicorn(workers: int) -> subprocess.Popen[bytes]:
    server_env = env(
        TESSERA_ENV="production",
        ALLOWED_HOSTS="127.0.0.1",
        LOG_LEVEL="WARNING",
        DB_CONN_MAX_AGE="600",
    )
    proc = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "tessera.wsgi:application",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{PORT}",
            "--backlog",
            "256",
            "--log-level",
            "warning",
        ],
        env=server_env,
        cwd=ROOT,
    )
    for _ in range(100):
        try:
            c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
            c.request("GET", "/api/v1/openapi.json", headers={"X-Forwarded-Proto": "https"})
            if c.getresponse().status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise SystemExit("gunicorn did not come up")


class Client:
    """One till: a keep-alive-capable HTTP connection, production's HTTPS-behind-a-proxy header."""

    def __init__(self, key: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        self.headers = {
            "Authorization": f"Bearer {key}",
            "X-Forwarded-Proto": "https",
            "Content-Type": "application/json",
        }

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        headers = dict(self.headers)
        data = None
        if body is not None:
            headers["Idempotency-Key"] = uuid.uuid4().hex
            data = json.dumps(body).encode()
        try:
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
            payload = resp.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            return 0, None
        if resp.getheader("Connection", "").lower() == "close":
            self.conn.close()
        return resp.status, json.loads(payload) if payload else None


def op_earn(c: Client, phone: str) -> bool:
    status, _ = c.call("POST", "/api/v1/points/add", {"phone": phone, "amount_spent": 100_000})
    return status == 201


def op_spend(c: Client, phone: str) -> bool:
    basket = {
        "phone": phone,
        "points_to_spend": 10,
        "lines": [{"sku": "CF", "name": "Cà phê sữa", "quantity": 1, "unit_price": 29_000}],
    }
    status, sale = c.call("POST", "/api/v1/transactions", basket)
    if status != 201:
        return False
    status, done = c.call("POST", f"/api/v1/transactions/{sale['id']}/confirm", {"method": "pin", "pin": PIN})
    return status == 200 and done["status"] == "confirmed"


def op_lookup(c: Client, phone: str) -> bool:
    status, _ = c.call("GET", f"/api/v1/lookup?phone=%2B{phone[1:]}")
    return status == 200


OPS = {"earn": op_earn, "spend": op_spend, "lookup": op_lookup}


SERVER_PID: list[int] = []


def http_run(name: str, key: str, clients: int, seconds: float, warmup: float) -> dict[str, Any]:
    op = OPS[name]
    workers = workers_of(SERVER_PID[0]) if SERVER_PID else []
    start = time.monotonic()
    measure_from, deadline = start + warmup, start + warmup + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]
    outcomes: list[Counter[str]] = [Counter() for _ in range(clients)]

    def till(i: int) -> None:
        c, rng = Client(key), random.Random(i)
        while (now := time.monotonic()) < deadline:
            phone = f"+8490{rng.randint(1, MEMBERS):07d}"
            ok = op(c, phone)
            end = time.monotonic()
            if now >= measure_from:
                latencies[i].append(end - now)
                outcomes[i]["ok" if ok else "failed"] += 1

    threads = [threading.Thread(target=till, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    time.sleep(max(0.0, measure_from - time.monotonic()))
    cpu_server, cpu_client = cpu_seconds(workers), time.process_time()
    for t in threads:
        t.join()
    cpu_server, cpu_client = cpu_seconds(workers) - cpu_server, time.process_time() - cpu_client
    lat = [x for xs in latencies for x in xs]
    total = sum(outcomes, Counter())
    return {
        "operations": total["ok"],
        "failed": total["failed"],
        "rate_per_s": round(total["ok"] / seconds, 1),
        "p50_ms": round(pct(lat, 50) * 1000, 2),
        "p99_ms": round(pct(lat, 99) * 1000, 2),
        "web_cpu_ms_per_op": round(1000 * cpu_server / max(total["ok"], 1), 2),
        "load_generator_cpu_ms_per_op": round(1000 * cpu_client / max(total["ok"], 1), 2),
    }


def pgbench_run(name: str, ctx: dict[str, Any], clients: int, seconds: float) -> dict[str, Any]:
    p = dsn_parts()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / f"{name}.sql"
        script.write_text(PGBENCH[name])
        cmd = [
            "pgbench",
            "-n",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            "2",
            "-T",
            str(int(seconds)),
            "-f",
            str(script),
            "-l",
            "--log-prefix",
            f"{tmp}/log",
            "-D",
            f"lo={ctx['lo']}",
            "-D",
            f"hi={ctx['hi']}",
            "-D",
            f"n={MEMBERS}",
            "-D",
            f"merchant={ctx['twin']}",
            "-h",
            p["host"],
            "-p",
            p["port"],
            "-U",
            p["user"],
            p["dbname"],
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        lat: list[float] = []
        for log in Path(tmp).glob("log*"):
            for line in log.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3:
                    lat.append(int(parts[2]) / 1e6)
    tps = next(float(line.split("=")[1].split()[0]) for line in out.splitlines() if line.startswith("tps"))
    return {
        "transactions": len(lat),
        "rate_per_s": round(tps, 1),
        "p50_ms": round(pct(lat, 50) * 1000, 2),
        "p99_ms": round(pct(lat, 99) * 1000, 2),
    }


def profile(server: subprocess.Popen[bytes], name: str, key: str, clients: int, seconds: float) -> list[Any]:
    """py-spy over every gunicorn worker during one run; the functions holding the most samples."""
    if not shutil.which("py-spy") and not (BIN / "py-spy").exists():
        return []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "stacks.txt"
        spy = subprocess.Popen(
            [
                str(BIN / "py-spy"),
                "record",
                "--pid",
                str(server.pid),
                "--subprocesses",
                "--format",
                "raw",
                "--rate",
                "200",
                "--duration",
                str(int(seconds)),
                "--output",
                str(out),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        http_run(name, key, clients, seconds, 0)
        spy.wait(timeout=60)
        own: Counter[str] = Counter()
        total = 0
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            n = int(count)
            total += n
            seen = set()
            for frame in stack.split(";"):
                fn = frame.split(" (")[0] + " (" + frame.split(" (")[-1].split(":")[0].split("/")[-1] + ")"
                if fn not in seen and (
                    "tessera" in frame
                    or "django" in frame
                    or "psycopg" in frame
                    or "hashers" in frame
                    or "pbkdf2" in frame
                ):
                    own[fn] += n
                    seen.add(fn)
        return [(fn, round(100 * n / total, 1)) for fn, n in own.most_common(25)] if total else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--only", choices=sorted(OPS), action="append")
    parser.add_argument("--profile", action="store_true", help="also sample the workers with py-spy")
    args = parser.parse_args()
    if not shutil.which("pgbench"):
        raise SystemExit("pgbench is missing: apt-get install postgresql-client")

    ctx = setup()
    server = start_gunicorn(args.workers)
    SERVER_PID.append(server.pid)
    results: dict[str, Any] = {}
    try:
        for name in args.only or ["earn", "spend", "lookup"]:
            web = http_run(name, ctx["key"], args.clients, args.seconds, args.warmup)
            db = pgbench_run(name, ctx, args.clients, args.seconds)
            ratio = round(web["rate_per_s"] / db["rate_per_s"], 4) if db["rate_per_s"] else None
            results[name] = {"http": web, "pgbench": db, "ratio_http_to_pgbench": ratio}
            if args.profile:
                results[name]["profile_top"] = profile(server, name, ctx["key"], args.clients, 10)
            print(
                f"{name:7s} HTTP {web['rate_per_s']:8.1f}/s p50 {web['p50_ms']:7.1f} ms p99 "
                f"{web['p99_ms']:7.1f} ms ({web['failed']} failed) | pgbench {db['rate_per_s']:8.1f}/s p50 "
                f"{db['p50_ms']:6.2f} ms p99 {db['p99_ms']:6.2f} ms | ratio {ratio} | web CPU "
                f"{web['web_cpu_ms_per_op']} ms/op, load generator "
                f"{web['load_generator_cpu_ms_per_op']} ms/op",
                flush=True,
            )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    check = subprocess.run(
        [str(BIN / "tessera"), "verify-ledger", "--merchant", "bench"],
        env=env(),
        capture_output=True,
        text=True,
    )
    results["verify_ledger"] = [
        line
        for line in (check.stdout + check.stderr).splitlines()
        if line.startswith(("Checked", "CommandError"))
    ]
    path = write_result(
        "pos",
        {
            "settings": {
                "clients": args.clients,
                "seconds": args.seconds,
                "gunicorn_workers": args.workers,
                "gunicorn_worker_class": "sync",
                "members": MEMBERS,
                "pgbench_protocol": "prepared",
                "TESSERA_ENV": "production",
                "pin_hash": "keyed HMAC-SHA256 (members.services.hash_pin)",
            },
            "results": results,
            "pgbench_scripts": PGBENCH,
        },
    )
    print(f"verify-ledger: {results['verify_ledger']}\nwritten {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
