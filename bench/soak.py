"""Soak with faults: mixed POS traffic while web workers, the huey worker and PostgreSQL are killed and
restarted; afterwards, prove that nothing was lost or applied twice (issue 7).

    .venv/bin/python bench/soak.py [--minutes 3] [--clients 12] [--workers 3] [--no-postgres-restart]

Runs gunicorn (production settings, `--max-requests` small so workers recycle) and a huey consumer
(Redis, its own database number) against a dropped-and-recreated PostgreSQL database, and `--clients`
tills sending lookups, sales (create + confirm by PIN, with and without points spent), abandoned sales,
voids, refunds and points added or deducted by hand. Every logical operation has its own
Idempotency-Key and is retried with the same key and body on a connection error, a timeout or a 5xx,
with backoff, until it succeeds or fails with a clean 4xx.

Faults, at fixed fractions of the run: SIGKILL of a web worker (twice), SIGHUP of the gunicorn master,
kill -9 and restart of the huey consumer (twice), one restart of PostgreSQL (`pg_ctlcluster`; this is the
machine's shared server: other users see a blip).

Then, from the tills' own record of operations, keys and answers, and from the database: every
acknowledged operation is in the database exactly once and nothing else is; every member's points
balance is what the acknowledged operations predict; replaying acknowledged requests with their key
returns the first answer; no sale is left pending and no hold active after the abandoned-sale task
(run through huey); every webhook event of a confirmed sale was recorded and delivered;
`tessera verify-ledger` exits 0. Writes bench/results/soak.json and exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tessera_bench_soak")
os.environ.setdefault("BENCH_VAR_DIR", "/tmp/tessera-bench-soak")
# Its own Redis database, so the soak neither eats nor floods anybody else's queue; abandoned sales
# are voided by the task after a minute (production default: 30).
os.environ.update(
    REDIS_URL=os.environ.get("SOAK_REDIS_URL", "redis://127.0.0.1:6379/13"), SALES_PENDING_TIMEOUT_MINUTES="1"
)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BIN,
    PIN,
    ROOT,
    VAR_DIR,
    django_setup,
    env,
    pct,
    reset_database,
    seed_members,
    write_result,
)

REDIS_URL = os.environ["REDIS_URL"]
MEMBERS = 400
START_BALANCE = 1_000_000
PORT = int(os.environ.get("SOAK_PORT", "8775"))
SINK_PORT = PORT + 1
#: How long one operation may keep retrying before the till gives up (it is retried again at the end).
RETRY_BUDGET_S = 90.0
PG_CLUSTER = os.environ.get("SOAK_PG_CLUSTER", "15 main")

#: Weighted mix of logical operations.
MIX = {
    "lookup": 20,
    "earn": 22,
    "spend": 18,
    "abandon": 4,
    "void_pending": 4,
    "void_confirmed": 8,
    "refund": 8,
    "add": 8,
    "deduct": 8,
}

SETTINGS_MODULE = """
from tessera.settings import *  # noqa: F403

# The soak's webhook sink listens on 127.0.0.1; production refuses private addresses.
TESSERA_WEBHOOKS_ALLOW_PRIVATE = True
"""


# --- the tills' record ---------------------------------------------------------------------------------


@dataclass
class Op:
    """One logical operation: one Idempotency-Key, however many requests it took."""

    kind: str
    method: str
    path: str
    body: dict[str, Any] | None
    member: int
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: int | None = None  # final HTTP status; None: no definite answer yet
    answer: Any = None
    raw: bytes = b""
    requests: int = 0
    started: float = 0.0


@dataclass
class Sale:
    id: int
    member: int
    points_earned: int
    points_to_spend: int
    lines: list[dict[str, Any]]


class Record:
    """What every till did, shared by the threads (appends under a lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ops: list[Op] = []
        self.failures: Counter[str] = Counter()
        self.failure_log: list[tuple[float, str, str]] = []
        self.requests = 0
        self.retries = 0
        self.lookups = 0
        self.latencies: list[float] = []
        self.delta: Counter[int] = Counter()
        self.abandoned: list[tuple[int, float]] = []

    def failed(self, t: float, kind: str, what: str) -> None:
        with self.lock:
            self.failures[kind] += 1
            self.failure_log.append((t, kind, what))


T0 = time.monotonic()


def now() -> float:
    return round(time.monotonic() - T0, 2)


class Till:
    """One HTTP connection with the production proxy header and the retry policy."""

    def __init__(self, key: str, record: Record) -> None:
        self.key, self.record = key, record
        self.conn: http.client.HTTPConnection | None = None

    def _request(self, method: str, path: str, data: bytes | None, key: str | None) -> tuple[int, bytes, str]:
        headers = {
            "Authorization": f"Bearer {self.key}",
            "X-Forwarded-Proto": "https",
            "Content-Type": "application/json",
        }
        if key:
            headers["Idempotency-Key"] = key
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=20)
        t = time.monotonic()
        try:
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
            payload = resp.read()
            with self.record.lock:
                self.record.latencies.append(time.monotonic() - t)
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = None
            return 0, type(exc).__name__.encode(), ""
        if resp.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return resp.status, payload, resp.getheader("Idempotent-Replayed", "")

    def send(self, op: Op, budget: float = RETRY_BUDGET_S) -> Op:
        """Until a 2xx or a clean 4xx, with the same key and body; None status when the budget ran out."""
        data = json.dumps(op.body).encode() if op.body is not None else None
        started = time.monotonic()
        op.started = op.started or now()
        attempt = 0
        while True:
            status, payload, _replayed = self._request(op.method, op.path, data, op.key if data else None)
            op.requests += 1
            with self.record.lock:
                self.record.requests += 1
                if attempt:
                    self.record.retries += 1
            if 200 <= status < 500:
                op.status, op.raw = status, payload
                op.answer = json.loads(payload) if payload else None
                return op
            kind = "connection" if status == 0 else f"http_{status}"
            self.record.failed(now(), kind, f"{op.method} {op.path.split('?')[0]} {payload[:160]!r}")
            attempt += 1
            if time.monotonic() - started > budget:
                return op
            time.sleep(min(0.1 * 2**attempt, 2.0) * random.uniform(0.5, 1.0))


# --- the traffic ---------------------------------------------------------------------------------------


def phone(member: int) -> str:
    return f"+8490{member:07d}"


def basket(rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "sku": f"SKU{n}",
            "name": f"Món {n}",
            "quantity": rng.randint(1, 3),
            "unit_price": rng.choice([29_000, 45_000, 65_000]),
        }
        for n in range(rng.randint(1, 3))
    ]


def till_loop(i: int, key: str, record: Record, deadline: float, abandon_until: float) -> None:
    rng = random.Random(i * 7919)
    till = Till(key, record)
    mine: list[Sale] = []
    kinds, weights = zip(*MIX.items(), strict=True)

    def post(kind: str, path: str, body: dict[str, Any], member: int) -> Op:
        op = Op(kind=kind, method="POST", path=path, body=body, member=member)
        with record.lock:
            record.ops.append(op)
        return till.send(op)

    def create(member: int, points: int, kind: str) -> Op:
        body = {"phone": phone(member), "points_to_spend": points, "lines": basket(rng)}
        op = Op(kind=kind, method="POST", path="/api/v1/transactions", body=body, member=member)
        body["external_ref"] = op.key  # so the sale can be found by the key it was created with
        with record.lock:
            record.ops.append(op)
        return till.send(op)

    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        member = rng.randint(1, MEMBERS)
        if kind == "lookup":
            op = Op(
                kind="lookup",
                method="GET",
                path=f"/api/v1/lookup?phone=%2B{phone(member)[1:]}",
                body=None,
                member=member,
            )
            till.send(op)
            with record.lock:
                record.lookups += 1
            if op.status != 200:
                record.failed(now(), f"lookup_{op.status}", op.raw[:160].decode(errors="replace"))
        elif kind in ("earn", "spend"):
            made = create(member, rng.randint(10, 200) if kind == "spend" else 0, f"create_{kind}")
            if made.status != 201:
                continue
            sale = made.answer
            done = post(
                "confirm", f"/api/v1/transactions/{sale['id']}/confirm", {"method": "pin", "pin": PIN}, member
            )
            if done.status == 200 and done.answer["status"] == "confirmed":
                with record.lock:
                    record.delta[member] += done.answer["points_earned"] - done.answer["points_to_spend"]
                mine.append(
                    Sale(
                        sale["id"],
                        member,
                        done.answer["points_earned"],
                        done.answer["points_to_spend"],
                        done.answer["lines"],
                    )
                )
        elif kind == "abandon":
            if time.monotonic() > abandon_until:
                continue
            made = create(member, rng.randint(10, 200), "create_abandon")
            if made.status == 201:
                with record.lock:
                    record.abandoned.append((made.answer["id"], time.monotonic()))
        elif kind == "void_pending":
            made = create(member, rng.randint(10, 200), "create_void")
            if made.status == 201:
                post(
                    "void_pending",
                    f"/api/v1/transactions/{made.answer['id']}/void",
                    {"reason": made.key},
                    member,
                )
        elif kind in ("void_confirmed", "refund") and mine:
            sale = mine.pop(rng.randrange(len(mine)))
            if kind == "void_confirmed":
                op = post(
                    "void_confirmed",
                    f"/api/v1/transactions/{sale.id}/void",
                    {"reason": uuid.uuid4().hex},
                    sale.member,
                )
                if op.status == 200 and op.answer["status"] == "voided":
                    with record.lock:
                        record.delta[sale.member] += sale.points_to_spend - sale.points_earned
            else:
                body: dict[str, Any] = {"reason": uuid.uuid4().hex}
                line = sale.lines[0]
                if line["quantity"] > 1 and rng.random() < 0.5:
                    body["lines"] = [{"line_id": line["id"], "quantity": 1}]
                op = post("refund", f"/api/v1/transactions/{sale.id}/refunds", body, sale.member)
                if op.status == 201:
                    a = op.answer
                    with record.lock:
                        record.delta[sale.member] += a["points_returned"] - (
                            a["points_reversed"] - a["points_shortfall"]
                        )
        elif kind == "add":
            op = post(
                "add",
                "/api/v1/points/add",
                {"phone": phone(member), "points": rng.randint(1, 500), "note": uuid.uuid4().hex},
                member,
            )
            if op.status == 201:
                with record.lock:
                    record.delta[member] += op.answer["points"]
        elif kind == "deduct":
            op = post(
                "deduct",
                "/api/v1/points/deduct",
                {"phone": phone(member), "points": rng.randint(1, 300), "reason": uuid.uuid4().hex},
                member,
            )
            if op.status == 201:
                with record.lock:
                    record.delta[member] += op.answer["points"]


# --- processes and faults ------------------------------------------------------------------------------


def server_env() -> dict[str, str]:
    settings_dir = Path(VAR_DIR) / "soak_settings"
    settings_dir.mkdir(parents=True, exist_ok=True)
    (settings_dir / "soak_settings.py").write_text(SETTINGS_MODULE)
    return env(
        TESSERA_ENV="production",
        DJANGO_SETTINGS_MODULE="soak_settings",
        PYTHONPATH=str(settings_dir),
        ALLOWED_HOSTS="127.0.0.1",
        LOG_LEVEL="ERROR",
        DB_CONN_MAX_AGE="600",
        REDIS_URL=REDIS_URL,
        HUEY_WORKERS="2",
    )


def start_gunicorn(workers: int, max_requests: int) -> subprocess.Popen[bytes]:
    log = open(Path(VAR_DIR) / "gunicorn.log", "ab")  # noqa: SIM115 (lives as long as the server)
    proc = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "tessera.wsgi:application",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{PORT}",
            "--max-requests",
            str(max_requests),
            "--max-requests-jitter",
            str(max_requests // 4),
            "--timeout",
            "30",
            "--graceful-timeout",
            "20",
            "--log-level",
            "warning",
        ],
        env=server_env(),
        cwd=ROOT,
        stdout=log,
        stderr=log,
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
    raise SystemExit("gunicorn did not come up; see " + str(Path(VAR_DIR) / "gunicorn.log"))


def start_huey() -> subprocess.Popen[bytes]:
    log = open(Path(VAR_DIR) / "huey.log", "ab")  # noqa: SIM115
    return subprocess.Popen(
        [str(BIN / "tessera"), "run_huey"], env=server_env(), cwd=ROOT, stdout=log, stderr=log
    )


def workers_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Faults:
    def __init__(
        self, server: subprocess.Popen[bytes], huey: subprocess.Popen[bytes], restart_pg: bool
    ) -> None:
        self.server, self.huey, self.restart_pg = server, huey, restart_pg
        self.done: list[dict[str, Any]] = []

    def note(self, what: str, **extra: Any) -> None:
        self.done.append({"at_s": now(), "fault": what, **extra})
        print(f"[{now():7.1f} s] {what} {extra or ''}", flush=True)

    def kill_worker(self) -> None:
        workers = workers_of(self.server.pid)
        if workers:
            victim = random.choice(workers)
            os.kill(victim, signal.SIGKILL)
            self.note("SIGKILL gunicorn worker", pid=victim)

    def reload_master(self) -> None:
        self.server.send_signal(signal.SIGHUP)
        self.note("SIGHUP gunicorn master (graceful reload of every worker)")

    def kill_huey(self) -> None:
        self.huey.kill()
        self.huey.wait()
        self.note("kill -9 huey consumer", pid=self.huey.pid)
        time.sleep(3)
        self.huey = start_huey()
        self.note("huey consumer restarted", pid=self.huey.pid)

    def restart_postgres(self) -> None:
        if not self.restart_pg:
            return
        t = time.monotonic()
        out = subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", *PG_CLUSTER.split(), "restart"],
            capture_output=True,
            text=True,
        )
        self.note(
            "PostgreSQL restart (pg_ctlcluster, fast shutdown)",
            seconds=round(time.monotonic() - t, 1),
            exit=out.returncode,
            stderr=out.stderr.strip()[:200],
        )

    def run(self, start: float, seconds: float, stop: threading.Event) -> None:
        plan = [
            (0.12, self.kill_worker),
            (0.25, self.kill_huey),
            (0.40, self.restart_postgres),
            (0.55, self.reload_master),
            (0.70, self.kill_worker),
            (0.80, self.kill_huey),
        ]
        for fraction, action in plan:
            if stop.wait(max(0.0, start + fraction * seconds - time.monotonic())):
                return
            action()


# --- the webhook sink ----------------------------------------------------------------------------------


class Sink(http.server.BaseHTTPRequestHandler):
    received: Counter[str] = Counter()
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            event = json.loads(body)["id"]
        except (ValueError, KeyError):
            event = "?"
        with self.lock:
            self.received[event] += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


# --- checks --------------------------------------------------------------------------------------------


def resolve(ops: list[Op], key: str, record: Record) -> int:
    """Operations the tills gave up on get their definite answer by retrying with the same key."""
    open_ops = [op for op in ops if op.status is None and op.method == "POST"]
    till = Till(key, record)
    for op in open_ops:
        till.send(op, budget=120)
    return len(open_ops)


def replay_check(ops: list[Op], key: str, record: Record, sample: int) -> dict[str, Any]:
    """Send acknowledged requests again with their key: the first answer must come back, unchanged."""
    posts = [op for op in ops if op.method == "POST" and op.status is not None]
    chosen = [op for op in posts if op.requests > 1]
    rest = [op for op in posts if op.requests == 1]
    chosen += random.Random(1).sample(rest, min(sample, len(rest)))
    till = Till(key, record)
    mismatches = []
    for op in chosen:
        status, payload, replayed = till._request("POST", op.path, json.dumps(op.body).encode(), op.key)
        if status != op.status or payload != op.raw or replayed != "true":
            mismatches.append(
                {"key": op.key, "path": op.path, "first": op.status, "replay": status, "replayed": replayed}
            )
    return {
        "replayed": len(chosen),
        "retried_ops_replayed": sum(1 for op in chosen if op.requests > 1),
        "mismatches": mismatches,
    }


def check_database(record: Record, merchant_id: int) -> tuple[dict[str, Any], list[str]]:
    from django.db.models import Count, Q

    from tessera.core.models import IdempotencyRecord
    from tessera.integrations.models import WebhookDelivery
    from tessera.ledger.models import Account, Entry, EntryKind, Hold, HoldStatus
    from tessera.members.models import Member
    from tessera.sales.models import Refund, Transaction, TransactionStatus

    violations: list[str] = []
    ops = record.ops
    by_kind: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        by_kind[op.kind].append(op)

    # Sales: one per acknowledged create key, none for any other key.
    sales = {
        s["external_ref"]: s
        for s in Transaction.objects.filter(merchant_id=merchant_id)
        .values("external_ref")
        .annotate(n=Count("id"))
        .values("external_ref", "n")
    }
    creates = [op for op in ops if op.kind.startswith("create_")]
    acked_creates = {op.key: op for op in creates if op.status == 201}
    for key, row in sales.items():
        if row["n"] != 1:
            violations.append(f"{row['n']} sales for create key {key}")
        if key not in acked_creates:
            violations.append(f"a sale exists for key {key} that no till saw succeed")
    for key, op in acked_creates.items():
        if key not in sales:
            violations.append(f"acknowledged sale {op.answer['id']} (key {key}) is missing")
    # Each sale's ledger entries, counted: one EARN / SPEND at most, reversals only for voided or refunded.
    per_sale = (
        Entry.objects.filter(merchant_id=merchant_id, source__startswith="sale:")
        .values("source")
        .annotate(
            earn=Count("id", filter=Q(kind=EntryKind.EARN)),
            spend=Count("id", filter=Q(kind=EntryKind.SPEND)),
            reversal=Count("id", filter=Q(kind=EntryKind.REVERSAL)),
        )
    )
    status_of = dict(Transaction.objects.filter(merchant_id=merchant_id).values_list("id", "status"))
    for row in per_sale:
        sale_id = int(row["source"].split(":")[1])
        if row["earn"] > 1 or row["spend"] > 1:
            violations.append(f"sale {sale_id}: {row['earn']} earn and {row['spend']} spend entries")
        if row["reversal"] and status_of.get(sale_id) != TransactionStatus.VOIDED:
            violations.append(
                f"sale {sale_id} has reversals under its own source but is {status_of.get(sale_id)}"
            )
        if row["reversal"] > row["earn"] + row["spend"]:
            violations.append(
                f"sale {sale_id}: {row['reversal']} reversals of {row['earn'] + row['spend']} entries"
            )
    confirmed_ok = {
        op.answer["id"]
        for op in by_kind["confirm"]
        if op.status == 200 and op.answer["status"] == "confirmed"
    }
    voided_ok = {
        op.answer["id"] for op in by_kind["void_confirmed"] + by_kind["void_pending"] if op.status == 200
    }
    for sale_id in confirmed_ok:
        if status_of.get(sale_id) not in (TransactionStatus.CONFIRMED, TransactionStatus.VOIDED):
            violations.append(f"acknowledged confirm of sale {sale_id}, which is {status_of.get(sale_id)}")
    for sale_id in voided_ok:
        if status_of.get(sale_id) != TransactionStatus.VOIDED:
            violations.append(f"acknowledged void of sale {sale_id}, which is {status_of.get(sale_id)}")
    # Refunds, points by hand: one row / entry per acknowledged key.
    refund_reasons = Counter(Refund.objects.filter(merchant_id=merchant_id).values_list("reason", flat=True))
    for op in by_kind["refund"]:
        n = refund_reasons.get(op.body["reason"], 0) if op.body else 0
        if (op.status == 201 and n != 1) or (op.status != 201 and n):
            violations.append(f"refund key {op.key}: answered {op.status}, {n} refunds recorded")
    manual = Counter(
        Entry.objects.filter(merchant_id=merchant_id, source__in=["points:add", "points:deduct"]).values_list(
            "reason", flat=True
        )
    )
    for op in by_kind["add"] + by_kind["deduct"]:
        tag = (op.body.get("note") or op.body.get("reason") or "") if op.body else ""
        n = manual.get(tag, 0)
        if (op.status == 201 and n != 1) or (op.status != 201 and n):
            violations.append(f"{op.kind} key {op.key}: answered {op.status}, {n} entries recorded")
    keys = Counter(IdempotencyRecord.objects.filter(merchant_id=merchant_id).values_list("key", flat=True))
    for op in ops:
        if op.method == "POST" and op.status is not None and keys.get(op.key) != 1:
            violations.append(
                f"key {op.key} answered {op.status} has {keys.get(op.key, 0)} idempotency records"
            )
    unresolved = [op.key for op in ops if op.method == "POST" and op.status is None]
    if unresolved:
        violations.append(f"{len(unresolved)} operations never got a definite answer: {unresolved[:5]}")

    # Balances: the model of acknowledged operations against the ledger's accounts.
    balances = dict(
        Account.objects.filter(merchant_id=merchant_id, kind="points").values_list("member_id", "balance")
    )
    number = {m.pk: int(str(m.phone)[5:]) for m in Member.objects.filter(merchant_id=merchant_id)}
    wrong = []
    for member_id, balance in balances.items():
        expected = START_BALANCE + record.delta.get(number[member_id], 0)
        if balance != expected:
            wrong.append((number[member_id], balance, expected))
    if wrong:
        violations.append(f"{len(wrong)} members' balances differ from the tills' model: {wrong[:5]}")

    # Nothing stuck.
    pending = Transaction.objects.filter(merchant_id=merchant_id, status=TransactionStatus.PENDING).count()
    active_holds = Hold.objects.filter(merchant_id=merchant_id, status=HoldStatus.ACTIVE).count()
    held = Account.objects.filter(merchant_id=merchant_id).exclude(held=0).count()
    if pending:
        violations.append(f"{pending} sales still pending after the abandoned-sale task")
    if active_holds or held:
        violations.append(f"{active_holds} active holds, {held} accounts with points held")

    # Webhooks: every confirmed sale announced, every delivery delivered.
    confirmed_events = WebhookDelivery.objects.filter(
        merchant_id=merchant_id, event_type="sale.confirmed"
    ).count()
    confirmed_sales = len(confirmed_ok)
    deliveries = Counter(
        WebhookDelivery.objects.filter(merchant_id=merchant_id).values_list("status", flat=True)
    )
    undelivered = sum(n for status, n in deliveries.items() if status != "delivered")
    if confirmed_events != confirmed_sales:
        violations.append(
            f"{confirmed_sales} sales confirmed but {confirmed_events} sale.confirmed events recorded"
        )
    if undelivered:
        violations.append(f"{undelivered} webhook deliveries not delivered: {dict(deliveries)}")
    received = set(Sink.received)
    delivered_ids = {
        str(e)
        for e in WebhookDelivery.objects.filter(merchant_id=merchant_id, status="delivered").values_list(
            "event_id", flat=True
        )
    }
    if delivered_ids - received:
        violations.append(
            f"{len(delivered_ids - received)} deliveries marked delivered never reached the sink"
        )

    counts = {
        "sales": len(sales),
        "sales_by_status": dict(Counter(status_of.values())),
        "refunds": sum(refund_reasons.values()),
        "points_by_hand": sum(manual.values()),
        "members_checked": len(balances),
        "webhook_deliveries": dict(deliveries),
        "webhook_events_received": sum(Sink.received.values()),
        "webhook_events_received_more_than_once": sum(1 for n in Sink.received.values() if n > 1),
    }
    return counts, violations


def wait_for(predicate: Any, timeout: float, every: float = 2.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers")
    parser.add_argument("--max-requests", type=int, default=200, help="gunicorn recycles a worker after this")
    parser.add_argument(
        "--no-postgres-restart", action="store_true", help="skip restarting the shared server"
    )
    parser.add_argument("--replay-sample", type=int, default=300)
    args = parser.parse_args()
    seconds = args.minutes * 60
    load_before = os.getloadavg()

    subprocess.run(["redis-cli", "-u", REDIS_URL, "flushdb"], check=True, capture_output=True)
    reset_database()
    django_setup()
    from tessera.integrations.models import WebhookEndpoint
    from tessera.points.services import save_policy
    from tessera.tenancy import services as tenancy
    from tessera.tenancy.models import Store
    from tessera.tiers.models import Tier, TierProgram

    merchant = tenancy.create_merchant(
        name="Soak Café", slug="soak", currency="VND", time_zone="Asia/Ho_Chi_Minh", default_language="en"
    )
    store = Store.objects.create(merchant=merchant, code="q1", name="Quận 1")
    save_policy(merchant=merchant, pending_days=0)
    TierProgram.objects.create(merchant=merchant)
    Tier.objects.create(merchant=merchant, code="silver", name="Silver", rank=1, threshold=2_000_000)
    Tier.objects.create(merchant=merchant, code="gold", name="Gold", rank=2, threshold=6_000_000)
    key = tenancy.create_api_key(merchant=merchant, name="Soak till", store=store).raw_key
    # Straight in: the service refuses http://127.0.0.1 outside development; the workers allow it.
    WebhookEndpoint.objects.create(
        merchant=merchant, url=f"http://127.0.0.1:{SINK_PORT}/hook", secret="whsec_soak"
    )
    seed_members(merchant_id=merchant.pk, count=MEMBERS, balance=START_BALANCE, expires=None)

    sink = http.server.ThreadingHTTPServer(("127.0.0.1", SINK_PORT), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    server = start_gunicorn(args.workers, args.max_requests)
    faults = Faults(server, start_huey(), restart_pg=not args.no_postgres_restart)
    record = Record()
    violations: list[str] = []
    result: dict[str, Any] = {}
    try:
        start = time.monotonic()
        deadline = start + seconds
        abandon_until = deadline - 75 if seconds > 100 else start + seconds / 3
        stop = threading.Event()
        fault_thread = threading.Thread(target=faults.run, args=(start, seconds, stop))
        fault_thread.start()
        tills = [
            threading.Thread(target=till_loop, args=(i, key, record, deadline, abandon_until))
            for i in range(args.clients)
        ]
        for t in tills:
            t.start()
        for t in tills:
            t.join()
        stop.set()
        fault_thread.join()
        traffic_s = time.monotonic() - start
        print(
            f"[{now():7.1f} s] traffic stopped: {record.requests} requests, {record.retries} retries",
            flush=True,
        )

        unresolved_at_end = resolve(record.ops, key, record)
        from django.db import connections

        connections.close_all()  # this process's connection did not survive the PostgreSQL restart

        # The abandoned-sale task, through the huey consumer, once the last abandoned sale is old enough.
        from tessera.sales.models import Transaction, TransactionStatus
        from tessera.sales.tasks import ABANDONED, void_abandoned_sales_task

        youngest = max((t for _sale, t in record.abandoned), default=0.0)
        time.sleep(max(0.0, youngest + 62 - time.monotonic()))
        void_abandoned_sales_task()  # enqueued for the consumer; huey keeps no result of periodic tasks
        abandoned_left = Transaction.objects.filter(merchant=merchant, status=TransactionStatus.PENDING)
        wait_for(lambda: not abandoned_left.exists(), timeout=90)
        voided_by_task = Transaction.objects.filter(merchant=merchant, void_reason=ABANDONED).count()
        print(f"[{now():7.1f} s] abandoned sales voided by the task (huey): {voided_by_task}", flush=True)

        # Webhooks: a delivery claimed by a killed consumer is retried by the sweep after its claim expires.
        from tessera.integrations.models import WebhookDelivery

        drained = wait_for(
            lambda: (
                not WebhookDelivery.objects.filter(merchant=merchant).exclude(status="delivered").exists()
            ),
            timeout=200,
            every=5,
        )
        print(f"[{now():7.1f} s] webhook deliveries drained: {drained}", flush=True)
        replay = replay_check(record.ops, key, record, args.replay_sample)
        if replay["mismatches"]:
            violations.append(
                f"{len(replay['mismatches'])} replays differ from the first answer: "
                f"{replay['mismatches'][:3]}"
            )
        counts, found = check_database(record, merchant.pk)
        violations += found
        check = subprocess.run(
            [str(BIN / "tessera"), "verify-ledger"], env=env(), capture_output=True, text=True
        )
        verify = [ln for ln in (check.stdout + check.stderr).splitlines() if ln.strip()][-3:]
        if check.returncode:
            violations.append(f"verify-ledger exited {check.returncode}: {verify}")

        # A fault is noted when its command returns: the PostgreSQL restart began `seconds` earlier.
        fault_windows = [(f["at_s"] - f.get("seconds", 0) - 2, f["at_s"] + 15) for f in faults.done]
        outside = [f for f in record.failure_log if not any(a <= f[0] <= b for a, b in fault_windows)]
        ops_by_kind = Counter(op.kind for op in record.ops)
        answers = Counter(f"{op.kind} {op.status}" for op in record.ops)
        clean_4xx = Counter(
            f"{op.kind} {op.status} {op.answer.get('code') if isinstance(op.answer, dict) else ''}"
            for op in record.ops
            if op.status is not None and 400 <= op.status < 500
        )
        result = {
            "settings": {
                "minutes": args.minutes,
                "clients": args.clients,
                "gunicorn_workers": args.workers,
                "gunicorn_max_requests": args.max_requests,
                "members": MEMBERS,
                "mix": MIX,
                "retry": f"same key and body on connection error, timeout (20 s) or 5xx; backoff 0.1·2^n s "
                f"capped at 2 s; a till gives up after {RETRY_BUDGET_S:.0f} s and the operation is retried "
                "again after the run",
                "huey": f"RedisHuey {REDIS_URL}, 2 threads; SALES_PENDING_TIMEOUT_MINUTES=1",
                "TESSERA_ENV": "production",
            },
            "traffic_seconds": round(traffic_s, 1),
            "requests": record.requests,
            "requests_per_s": round(record.requests / traffic_s, 1),
            "answered_request_p50_ms": round(pct(record.latencies, 50) * 1000, 1),
            "answered_request_p99_ms": round(pct(record.latencies, 99) * 1000, 1),
            "retries": record.retries,
            "lookups": record.lookups,
            "logical_operations": dict(ops_by_kind),
            "answers": dict(answers),
            "clean_4xx": dict(clean_4xx),
            "failed_requests_by_kind": dict(record.failures),
            "failed_requests_outside_fault_windows": len(outside),
            "failed_requests_outside_fault_windows_sample": outside[:10],
            "retried_after_run": unresolved_at_end,
            "faults": faults.done,
            "abandoned_sales": len(record.abandoned),
            "voided_by_abandoned_sale_task": voided_by_task,
            "webhooks_drained": drained,
            "replay": replay,
            "database": counts,
            "verify_ledger": verify,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "violations": violations,
        }
    finally:
        server.send_signal(signal.SIGTERM)
        faults.huey.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        faults.huey.wait(timeout=30)
        sink.shutdown()
    path = write_result("soak", result)
    print(
        json.dumps(
            {k: result.get(k) for k in ("requests", "requests_per_s", "retries", "failed_requests_by_kind")},
            indent=1,
        )
    )
    print(f"faults: {[f['fault'] for f in faults.done]}")
    print(f"verify-ledger: {result.get('verify_ledger')}")
    print(f"written {path.relative_to(ROOT)}")
    if violations:
        print("VIOLATIONS:\n  " + "\n  ".join(violations), file=sys.stderr)
        sys.exit(1)
    print("no violations")


if __name__ == "__main__":
    main()
