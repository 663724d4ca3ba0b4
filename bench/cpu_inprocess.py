"""Web CPU per point-of-sale request, in process (issue 13: lookup and quote ≤ 1.5 ms, points/add ≤ 3 ms,
sale ≤ 8 ms, spend-with-PIN sale ≤ 10 ms, void and refund by line ≤ 6 ms each).

    .venv/bin/python bench/cpu_inprocess.py [--requests 300] [--warmup 20] [--ops lookup,quote,...]
        [--tiers] [--calls] [--profile OP] [--repeat 3]

No HTTP server: the WSGI handler is called as gunicorn calls it, with an environ and a
`start_response` (every middleware, ninja, the views, the database; not Django's test client, whose
own signals and response bookkeeping cost about a tenth of a lookup), and the process's CPU time
(`time.process_time`) is read around the timed calls only; the work each measured call needs
beforehand (a confirmed sale to void or refund) is made untimed. DEBUG off; the merchant's
configuration is cached by the warm-up, as in the steady state of a worker.

The database is a fresh test database made by migrating: SQLite in memory unless `DATABASE_URL` names
another (PostgreSQL: its test database, `bench_cpu_<name>`, is created and dropped again).

On a shared, loaded machine CPU time per request is noisy (caches, frequency, other processes). Two
figures that do not depend on the load: `--calls` counts the Python function calls per request
(cProfile's count, C functions included), and `--repeat` alternates the ops several times and prints
each round, so that two versions can be compared round by round. `--profile OP` prints cProfile's
top functions for one op.

The merchant is posprobe's (one store, a store-bound `pos` key, sales confirmed with method `none`,
members with phones); `spend` is bench/pos.py's sale (10 points spent, confirmed by the member's PIN);
`--tiers` adds a tier program of three tiers.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("TESSERA_ENV", "development")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tessera.settings")
os.environ.setdefault("TESSERA_VAR_DIR", "/tmp/tessera-cpu-bench")

PIN = "2468"
LINES = [
    {"sku": "PHO", "name": "Pho", "quantity": 2, "unit_price": 65000},
    {"sku": "TRA", "name": "Tra da", "quantity": 4, "unit_price": 5000},
]
OPS = ("lookup", "quote", "earn", "sale", "spend", "void", "refund")
BUDGET_MS = {"lookup": 1.5, "quote": 1.5, "earn": 3, "sale": 8, "spend": 10, "void": 6, "refund": 6}
WHAT = {
    "lookup": "GET /lookup?phone=",
    "quote": "POST /quote",
    "earn": "POST /points/add",
    "sale": "sale: create + confirm (none)",
    "spend": "sale spending points, by PIN",
    "void": "void (confirmed sale)",
    "refund": "refund by line",
}


def setup_django() -> None:
    import django
    from django.conf import settings

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment(debug=False)
    if connection.vendor != "sqlite":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = (
            f"bench_cpu_{connection.settings_dict['NAME']}"
        )
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def teardown_django() -> None:
    from django.db import connection

    if connection.vendor != "sqlite":
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


class Answer:
    """What a WSGI server keeps of an answer: its status and body."""

    status_code = 0
    content = b""

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        self.status_code = int(status.split()[0])

    def json(self) -> Any:
        return json.loads(self.content)


class Till:
    """posprobe's merchant (or with three tiers), a store-bound key and `members` members; with `pin`,
    bench/pos.py's, whose sales are confirmed by the member's PIN."""

    def __init__(self, *, tiered: bool, pin: bool, members: int = 40) -> None:
        from tessera.members.models import Member
        from tessera.members.services import register_member, set_member_pin
        from tessera.sales.models import SalesSettings
        from tessera.tenancy.services import create_api_key, create_merchant, create_store
        from tessera.tiers.models import Tier, TierProgram
        from tessera.tiers.services import save_program, save_tier

        merchant = create_merchant(name="CPU", slug=f"cpu-{uuid.uuid4().hex[:8]}", currency="VND")
        store = create_store(merchant=merchant, code="main", name="Main")
        SalesSettings.objects.update_or_create(
            merchant=merchant,
            defaults={"confirm_with_pin": pin, "confirm_with_otp": False, "confirm_with_staff": False},
        )
        if tiered:
            save_program(
                program=TierProgram(
                    merchant=merchant, basis="spend", window="rolling_months", window_months=12
                ),
                actor=None,
            )
            for rank, (code, threshold) in enumerate(
                (("silver", 1000000), ("gold", 5000000), ("diamond", 15000000)), 1
            ):
                save_tier(
                    tier=Tier(
                        merchant=merchant, code=code, name=code.title(), rank=rank, threshold=threshold
                    ),
                    actor=None,
                )
        self.phones = [f"+8491{n:07d}" for n in range(1, members + 1)]
        for phone in self.phones:
            member = register_member(merchant=merchant, full_name="CPU", phone=phone)
            if pin:
                set_member_pin(member=Member.objects.get(pk=member.pk), pin=PIN)
        key = create_api_key(merchant=merchant, name="till", store=store).raw_key
        self.authorization = f"Bearer {key}"
        self.n = 0
        for phone in self.phones:  # every member has points to spend and an account
            self.post("/points/add", {"phone": phone, "points": 1_000_000}, 201)

    def phone(self) -> str:
        """The next member's phone: in turn, so that with posprobe's 2,000 members a worker's
        per-process caches see as many distinct members as under posprobe's random choice."""
        self.n += 1
        return self.phones[self.n % len(self.phones)]

    def wsgi(self, method: str, path: str, body: bytes = b"", idempotency_key: str = "") -> Answer:
        """One request through the WSGI handler, with the environ gunicorn would give it."""
        from django.core.wsgi import get_wsgi_application

        path, _, query = path.partition("?")
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SCRIPT_NAME": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "HTTP_AUTHORIZATION": self.authorization,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        if body:
            environ.update(CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(body)))
        if idempotency_key:
            environ["HTTP_IDEMPOTENCY_KEY"] = idempotency_key
        answer = Answer()
        if Till._application is None:
            Till._application = get_wsgi_application()
        chunks = Till._application(environ, answer.start_response)
        answer.content = b"".join(chunks)
        getattr(chunks, "close", lambda: None)()
        return answer

    _application: Any = None

    def get(self, path: str, status: int = 200) -> Any:
        response = self.wsgi("GET", f"/api/v1{path}")
        assert response.status_code == status, (path, response.status_code, response.content)
        return response

    def post(self, path: str, body: dict[str, Any], status: int) -> Any:
        response = self.wsgi("POST", f"/api/v1{path}", json.dumps(body).encode(), uuid.uuid4().hex)
        assert response.status_code == status, (path, response.status_code, response.content)
        return response

    def sale(self, *, spend: bool = False) -> dict[str, Any]:
        basket: dict[str, Any] = {"phone": self.phone(), "lines": LINES}
        confirm = {"method": "none"}
        if spend:
            basket["points_to_spend"] = 10
            confirm = {"method": "pin", "pin": PIN}
        created = self.post("/transactions", basket, 201).json()
        done = self.post(f"/transactions/{created['id']}/confirm", confirm, 200).json()
        assert done["status"] == "confirmed", done
        return done


def operations(till: Till, pin_till: Till) -> dict[str, tuple[Callable[[], Any], Callable[[Any], Any]]]:
    """op → (prepare, run): `prepare()` is untimed, `run(prepared)` is the measured request(s)."""
    nothing: Callable[[], Any] = lambda: None  # noqa: E731

    def refund(sale: dict[str, Any]) -> Any:
        line = {"line_id": sale["lines"][0]["id"], "quantity": 1}
        return till.post(f"/transactions/{sale['id']}/refunds", {"lines": [line], "reason": "cpu"}, 201)

    return {
        "lookup": (nothing, lambda _: till.get(f"/lookup?phone=%2B{till.phone()[1:]}")),
        "quote": (nothing, lambda _: till.post("/quote", {"phone": till.phone(), "lines": LINES}, 200)),
        "earn": (
            nothing,
            lambda _: till.post("/points/add", {"phone": till.phone(), "amount_spent": 150000}, 201),
        ),
        "sale": (nothing, lambda _: till.sale()),
        "spend": (nothing, lambda _: pin_till.sale(spend=True)),
        "void": (
            till.sale,
            lambda sale: till.post(f"/transactions/{sale['id']}/void", {"reason": "cpu"}, 200),
        ),
        "refund": (till.sale, refund),
    }


def measure(prepare: Callable[[], Any], run: Callable[[Any], Any], requests: int, warmup: int) -> float:
    """CPU milliseconds per run, after `warmup` runs."""
    for _ in range(warmup):
        run(prepare())
    prepared = [prepare() for _ in range(requests)]
    started = time.process_time()
    for item in prepared:
        run(item)
    return (time.process_time() - started) * 1000 / requests


def count_calls(prepare: Callable[[], Any], run: Callable[[Any], Any], requests: int) -> float:
    """Python function calls per run (cProfile's count, C functions included)."""
    prepared = [prepare() for _ in range(requests)]
    # CPU time, not wall time: waiting for the database is not the web's CPU.
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for item in prepared:
        run(item)
    profiler.disable()
    stats = pstats.Stats(profiler)
    return stats.total_calls / requests  # type: ignore[attr-defined]


def profile(prepare: Callable[[], Any], run: Callable[[Any], Any], requests: int, top: int, sort: str) -> str:
    prepared = [prepare() for _ in range(requests)]
    # CPU time, not wall time: waiting for the database is not the web's CPU.
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for item in prepared:
        run(item)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats(sort)
    stats.print_stats(top)
    if os.environ.get("PROFILE_CALLERS"):
        stats.print_callers(os.environ["PROFILE_CALLERS"])
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--ops", default=",".join(OPS))
    parser.add_argument("--tiers", action="store_true", help="a tier program of three tiers")
    parser.add_argument(
        "--members", type=int, default=40, help="members of the till's merchant (posprobe's: 2000)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds over the ops, each printed")
    parser.add_argument("--calls", action="store_true", help="also count function calls per request")
    parser.add_argument("--profile", metavar="OP", help="print cProfile's top functions for OP")
    parser.add_argument("--sort", default="cumulative", help="cProfile sort key (cumulative, tottime)")
    parser.add_argument("--top", type=int, default=60)
    args = parser.parse_args()
    ops = [op.strip() for op in args.ops.split(",") if op.strip()]
    unknown = set(ops) - set(OPS)
    if unknown:
        parser.error(f"unknown ops {sorted(unknown)}; choose among {', '.join(OPS)}")

    setup_django()
    try:
        from django.db import connection

        till = Till(tiered=args.tiers, pin=False, members=args.members)
        table = operations(till, Till(tiered=args.tiers, pin=True))
        print(
            f"# {connection.vendor}, {'three tiers' if args.tiers else 'no tiers'}, {args.requests} requests "
            f"after {args.warmup} warm-up; load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}"
        )
        if args.profile:
            prepare, run = table[args.profile]
            measure(prepare, run, 1, args.warmup)
            print(profile(prepare, run, args.requests, args.top, args.sort))
            return
        rounds: dict[str, list[float]] = {op: [] for op in ops}
        for _ in range(args.repeat):
            for op in ops:
                rounds[op].append(measure(*table[op], args.requests, args.warmup))
            print("  ".join(f"{op} {rounds[op][-1]:.2f}" for op in ops), flush=True)
        print(
            f"{'request':32} {'CPU ms (min of rounds)':>22} {'budget':>7}"
            + ("  calls/request" if args.calls else "")
        )
        for op in ops:
            line = f"{WHAT[op]:32} {min(rounds[op]):22.2f} {BUDGET_MS[op]:7}"
            if args.calls:
                line += f"  {count_calls(*table[op], min(args.requests, 100)):14.0f}"
            print(line)
        print(f"# load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} at the end")
    finally:
        teardown_django()


if __name__ == "__main__":
    main()
