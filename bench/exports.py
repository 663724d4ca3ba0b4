"""Excel export of a member list built by the background job (issue 16).

    .venv/bin/python bench/exports.py [--members 1000000] [--format xlsx]

Seeds `--members` members of one merchant (each with a points account), then asks for the member list's
Excel export as a finance user would (`start_export`, the service the "Export → Excel" menu calls) and
runs the job in this process (huey's immediate mode: the task's own code, no worker). Prints the job's
time, rows per second, its CPU time (this process; PostgreSQL's is not counted), the process's peak
resident memory before and after (`ru_maxrss`), the file's size and the load average; stores them in
bench/results/exports.json.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tessera_bench_exports")
os.environ.setdefault("BENCH_VAR_DIR", "/tmp/tessera-bench-exports")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import django_setup, reset_database, seed_members, write_result


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """This process's CPU time: on a shared machine a fairer figure than the wall clock."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--format", choices=["xlsx", "pdf"], default="xlsx")
    args = parser.parse_args()

    reset_database()
    django_setup()
    from huey.contrib.djhuey import HUEY

    from tessera.core import export_jobs
    from tessera.core.models import ExportJob
    from tessera.tenancy import services as tenancy
    from tessera.tenancy.admin_base import LIST_EXPORT
    from tessera.tenancy.models import Role

    merchant = tenancy.create_merchant(
        name="Bench Café", slug="bench", currency="VND", time_zone="Asia/Ho_Chi_Minh", default_language="en"
    )
    t0 = time.monotonic()
    seed_members(merchant_id=merchant.pk, count=args.members, balance=100, expires=None)
    print(f"seeded {args.members:,} members in {time.monotonic() - t0:.1f} s", flush=True)
    staff = tenancy.add_staff(
        merchant=merchant,
        username="bench-finance",
        password=None,
        roles=[Role.objects.get(merchant=merchant, key="finance")],
    )

    HUEY.immediate = True  # the task runs here, at the commit of start_export
    load_before = os.getloadavg()
    rss_before = peak_mb()
    cpu_before = cpu_seconds()
    t0 = time.monotonic()
    job = export_jobs.start_export(
        merchant=merchant,
        requester=staff.user,
        source=LIST_EXPORT,
        params={"model": "members.member", "query": ""},
        fmt=args.format,
        title="Members",
        filename="members-bench",
        rows_total=args.members,
    )
    seconds = time.monotonic() - t0
    cpu = cpu_seconds() - cpu_before
    job = ExportJob.objects.get(pk=job.pk)
    load_after = os.getloadavg()
    assert job.status == "done", (job.status, job.error)
    size = export_jobs.storage().size(job.file)
    result = {
        "members": args.members,
        "format": args.format,
        "rows": job.rows_done,
        "sheets": job.sheets,
        "seconds": round(seconds, 1),
        "rows_per_second": round(job.rows_done / seconds),
        "python_cpu_seconds": round(cpu, 1),
        "file_mb": round(size / 2**20, 1),
        "peak_rss_mb_before": round(rss_before, 1),
        "peak_rss_mb_after": round(peak_mb(), 1),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
    }
    print(result, flush=True)
    print(write_result("exports", result))


if __name__ == "__main__":
    main()
