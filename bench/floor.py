"""The stack's floor: what a request of each of Tessera's till shapes costs in Django + django-ninja +
psycopg alone, under the same gunicorn and the same wrk load as `../shared/tools/posprobe.py` (issue 13).

    .venv/bin/python bench/floor.py [--seconds 10] [--clients 16] [--workers 4] [--members 2000]

Issue 13's web-CPU budgets (lookup ≤ 1.5 ms, points/add ≤ 3 ms) were set from figures of a bare
application measured once, by a script that was not kept. The machine's CPU time for the same code moves
by a third between days and even hours here, so a budget in milliseconds means something only beside the
floor measured in the same sitting. This benchmark serves `bench/floorapp` (the two middleware every
Django site keeps, no others) from gunicorn with posprobe's settings (sync workers, 16 clients, wrk) and
prints the web CPU per request, read from /proc of the workers as posprobe reads it, for:

- `GET /wsgi`: a WSGI function answering a constant (gunicorn's own cost per request);
- `GET /api/bare`: a ninja view behind bearer authentication, no database;
- `GET /api/lookup?phone=`: the key checked by one statement, the member and account read by one more
  (Tessera's lookup's two);
- `POST /api/earn`: points/add in raw SQL — the key, BEGIN, the account locked, the entry, the lot, the
  balance, the idempotency record with its answer, COMMIT (Tessera's eight);
- `POST /api/earn-orm`: the same through the ORM.

Run posprobe straight after it; docs/performance.md puts the two side by side. The database
(`BENCH_DATABASE_URL`, default the `tessera_bench_floor` database on 127.0.0.1) is dropped and
re-created.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Its own database, as every benchmark has (BENCH_DATABASE_URL overrides).
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tessera_bench_floor")

from bench.common import BIN, cpu_seconds, dsn_parts, psql, workers_of, write_result  # noqa: E402

PORT = 8791
TOKEN = "floor-token"

SCHEMA = """
CREATE TABLE floor_key (prefix text PRIMARY KEY, merchant_id bigint NOT NULL, revoked_at timestamptz);
CREATE TABLE floor_member (id bigserial PRIMARY KEY, merchant_id bigint NOT NULL, name text NOT NULL,
  phone text NOT NULL, UNIQUE (merchant_id, phone));
CREATE TABLE floor_account (id bigserial PRIMARY KEY, merchant_id bigint NOT NULL,
  member_id bigint NOT NULL UNIQUE REFERENCES floor_member DEFERRABLE INITIALLY DEFERRED,
  balance bigint NOT NULL CHECK (balance >= 0), updated_at timestamptz NOT NULL);
CREATE TABLE floor_entry (id bigserial PRIMARY KEY, merchant_id bigint NOT NULL,
  account_id bigint NOT NULL REFERENCES floor_account DEFERRABLE INITIALLY DEFERRED, kind text NOT NULL,
  amount bigint NOT NULL, balance_after bigint NOT NULL, note text NOT NULL,
  occurred_at timestamptz NOT NULL);
CREATE INDEX ON floor_entry (account_id, occurred_at);
CREATE TABLE floor_lot (id bigserial PRIMARY KEY, merchant_id bigint NOT NULL,
  account_id bigint NOT NULL REFERENCES floor_account DEFERRABLE INITIALLY DEFERRED,
  entry_id bigint NOT NULL UNIQUE REFERENCES floor_entry DEFERRABLE INITIALLY DEFERRED,
  amount bigint NOT NULL, remaining bigint NOT NULL, earned_at timestamptz NOT NULL, expires_at timestamptz);
CREATE INDEX ON floor_lot (account_id, expires_at);
CREATE TABLE floor_idem (id bigserial PRIMARY KEY, merchant_id bigint NOT NULL, key text NOT NULL,
  status int NOT NULL, answer jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (merchant_id, key));
INSERT INTO floor_key VALUES ('floor-token', 1, NULL);
INSERT INTO floor_member (merchant_id, name, phone)
  SELECT 1, 'Floor ' || i, '+8490' || lpad(i::text, 7, '0') FROM generate_series(1, %(members)d) i;
INSERT INTO floor_account (merchant_id, member_id, balance, updated_at)
  SELECT 1, id, 0, now() FROM floor_member;
ANALYZE;
"""

_COMMON_LUA = """
local counter = 0
nthreads = 0
function setup(thread) thread:set("tid", nthreads); nthreads = nthreads + 1 end
function init(args) math.randomseed(os.time() + tid * 7919) end
"""

LUA = {
    "wsgi": 'request = function() return wrk.format("GET", "/wsgi") end',
    "bare": """request = function()
  return wrk.format("GET", "/api/bare", {["Authorization"] = "Bearer @TOKEN@"})
end""",
    "lookup": """request = function()
  return wrk.format("GET", string.format("/api/lookup?phone=%%2B8490%07d", math.random(1, @MEMBERS@)),
    {["Authorization"] = "Bearer @TOKEN@"})
end""",
}
_EARN_LUA = """request = function()
  counter = counter + 1
  local body = string.format('{"phone":"+8490%07d","amount_spent":%d,"note":"probe"}',
    math.random(1, @MEMBERS@), math.random(1, 50) * 10000)
  return wrk.format("POST", "@PATH@", {["Authorization"] = "Bearer @TOKEN@",
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("@PHASE@-%d-%d", tid, counter)}, body)
end"""
LUA["earn"] = _EARN_LUA.replace("@PATH@", "/api/earn")
LUA["earn-orm"] = _EARN_LUA.replace("@PATH@", "/api/earn-orm")


def wrk(lua: str, clients: int, seconds: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_COMMON_LUA + lua)
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{clients}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            f.name,
            f"http://127.0.0.1:{PORT}",
        ],
        capture_output=True,
        text=True,
    ).stdout
    os.unlink(f.name)

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)] if m else float("nan")

    requests = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": int(requests.group(1)) if requests else 0,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--ops", default="wsgi,bare,lookup,earn,earn-orm")
    args = parser.parse_args()

    db = dsn_parts()
    psql(f'DROP DATABASE IF EXISTS "{db["dbname"]}" WITH (FORCE)', db="postgres")
    psql(f'CREATE DATABASE "{db["dbname"]}"', db="postgres")
    psql(SCHEMA % {"members": args.members})
    server_env = dict(
        os.environ,
        FLOOR_DB=db["dbname"],
        FLOOR_DB_HOST=db["host"],
        FLOOR_DB_PORT=db["port"],
        FLOOR_DB_USER=db["user"],
        DJANGO_SETTINGS_MODULE="bench.floorapp.settings",
    )
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "bench.floorapp.wsgi:application",
            "--workers",
            str(args.workers),
            "--bind",
            f"127.0.0.1:{PORT}",
            "--log-level",
            "warning",
        ],
        env=server_env,
        cwd=ROOT,
    )
    results: dict[str, Any] = {}
    load = [os.getloadavg()[0]]
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/wsgi", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        pids = workers_of(server.pid)
        for op in args.ops.split(","):
            lua = LUA[op].replace("@MEMBERS@", str(args.members)).replace("@TOKEN@", TOKEN)
            wrk(lua.replace("@PHASE@", f"{op}-warm"), args.clients, 3)
            before = cpu_seconds(pids)
            run = wrk(lua.replace("@PHASE@", f"{op}-main"), args.clients, args.seconds)
            spent = cpu_seconds(pids) - before
            run["rate"] = round(run["requests"] / args.seconds, 1)
            run["web_cpu_ms"] = round(1000 * spent / max(run["requests"], 1), 3)
            results[op] = run
            print(
                f"{op:9s} {run['rate']:8.1f}/s  p50 {run['p50_ms']:6.2f} ms  p99 {run['p99_ms']:7.2f} ms  "
                f"non-2xx {run['non_2xx']:5d} | web CPU {run['web_cpu_ms']:6.3f} ms/request",
                flush=True,
            )
            load.append(os.getloadavg()[0])
    finally:
        server.terminate()
        server.wait(timeout=30)
    path = write_result(
        "floor",
        {
            "settings": {
                "seconds": args.seconds,
                "clients": args.clients,
                "workers": args.workers,
                "members": args.members,
                "gunicorn_worker_class": "sync",
            },
            "load_1min": [round(x, 2) for x in load],
            "results": results,
        },
    )
    print(f"load {' → '.join(f'{x:.2f}' for x in load)}; written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
