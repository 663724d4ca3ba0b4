"""Import of 1,000,000 members from CSV, against PostgreSQL `COPY` of the same file (issue 7).

    .venv/bin/python bench/imports.py [--rows 1000000] [--verify]

Generates a CSV like a real export from a previous system (phones in local and international formats,
Vietnamese and Chinese names, dd/mm/yyyy dates, opening points with earning and expiry dates), then,
on a fresh database (`BENCH_DATABASE_URL`, default `tessera_bench_imports`):

1. Tessera: upload → check (dry run) → apply, through the import services and their huey tasks
   (run inline), all or nothing in one transaction; members with history rows, points accounts,
   entries and lots;
2. the database's limit: `COPY` of the same file into a plain table of the same columns.

Prints seconds and rows per second for both and the ratio; records the load average (the machine is
shared) and the peak memory of the importing process; writes bench/results/imports.json.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tessera_bench_imports")
os.environ.setdefault("BENCH_VAR_DIR", "/tmp/tessera-bench-imports")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BIN, ROOT, VAR_DIR, django_setup, dsn_parts, env, psql, reset_database, write_result

HEADER = ["Số điện thoại", "Họ tên", "Ngày sinh", "Giới tính", "Email", "Điểm", "Ngày tích điểm", "Hạn điểm"]
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"]
GIVEN = ["Văn An", "Thị Hồng", "Minh Tuấn", "Thu Hà", "Quốc Bảo", "Ngọc Ánh", "Đức Thắng", "Phương Thảo"]
CHINESE = ["王芳", "李娜", "张伟", "刘洋", "陈静", "杨磊"]


def generate(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for i in range(rows):
            digits = f"{i:07d}"
            phone = (f"090{digits[0]} {digits[1:4]} {digits[4:]}", f"+84 90{digits}", f"8490{digits}")[i % 3]
            name = CHINESE[i % 6] if i % 10 == 0 else f"{FAMILY[i % 12]} {GIVEN[i % 8]}"
            birthday = f"{1 + i % 28:02d}/{1 + i % 12:02d}/{1960 + i % 45}"
            gender = ("Nam", "Nữ", "男", "女", "")[i % 5]
            email = f"member{i}@example.vn" if i % 4 == 0 else ""
            points = str((i * 37) % 5000) if i % 2 == 0 else ""
            earned = f"{1 + i % 28:02d}/{1 + i % 12:02d}/2025" if points else ""
            expiry = f"31/12/{2030 + i % 3}" if points else ""
            writer.writerow([phone, name, birthday, gender, email, points, earned, expiry])


def copy_into_plain_table(path: Path, rows: int) -> float:
    columns = ", ".join(f"c{n} text" for n in range(len(HEADER)))
    psql(f"DROP TABLE IF EXISTS copy_target; CREATE UNLOGGED TABLE copy_target ({columns})")
    p = dsn_parts()
    t0 = time.monotonic()
    subprocess.run(
        [
            "psql",
            "-h",
            p["host"],
            "-p",
            p["port"],
            "-U",
            p["user"],
            "-d",
            p["dbname"],
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            f"\\copy copy_target FROM '{path}' WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')",
        ],
        check=True,
    )
    seconds = time.monotonic() - t0
    count = int(psql("SELECT count(*) FROM copy_target"))
    assert count == rows, count
    return seconds


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user + system) so far of this process and of its PostgreSQL backend (the import's
    tasks run inline here, on the one connection)."""
    from django.db import connection

    connection.ensure_connection()
    backend = connection.connection.info.backend_pid
    fields = Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()
    own = os.times()
    return own.user + own.system, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--verify", action="store_true", help="also run `tessera verify-ledger` afterwards")
    parser.add_argument(
        "--result", default="imports", help="name of the result file under bench/results (default imports)"
    )
    args = parser.parse_args()

    reset_database()
    django_setup()
    from django.core.files.uploadedfile import UploadedFile
    from huey.contrib.djhuey import HUEY

    from tessera.imports import services
    from tessera.imports.models import ImportState
    from tessera.ledger.models import Lot
    from tessera.members.models import Member
    from tessera.tenancy import services as tenancy
    from tessera.tenancy.models import Role

    HUEY.immediate = True  # the tasks run inline, in this process, right after each service commits
    merchant = tenancy.create_merchant(
        name="Bench Import",
        slug="bench-import",
        currency="VND",
        time_zone="Asia/Ho_Chi_Minh",
        default_language="vi",
    )
    admin = tenancy.add_staff(
        merchant=merchant,
        username="bench-admin",
        password="correct horse battery staple",
        roles=[Role.objects.get(merchant=merchant, key="merchant_admin")],
    ).user

    source = Path(VAR_DIR) / f"members-{args.rows}.csv"
    t0 = time.monotonic()
    generate(source, args.rows)
    print(
        f"generated {source} ({source.stat().st_size / 2**20:.0f} MiB) in {time.monotonic() - t0:.1f} s",
        flush=True,
    )

    load_before = os.getloadavg()
    cpu_start = cpu_seconds()
    t0 = time.monotonic()
    with source.open("rb") as raw:
        upload = UploadedFile(raw, name=source.name, content_type="text/csv", size=source.stat().st_size)
        job = services.upload_import(merchant=merchant, upload=upload, actor=admin)
    upload_s = time.monotonic() - t0

    t0 = time.monotonic()
    job = services.check_import(
        job=job, mapping=job.mapping, mode="all_or_nothing", duplicate_policy="error", actor=admin
    )
    job.refresh_from_db()
    check_s = time.monotonic() - t0
    cpu_checked = cpu_seconds()
    assert job.state == ImportState.VALIDATED and job.valid_rows == args.rows, (job.state, job.failure)
    print(f"check (dry run): {check_s:.1f} s ({args.rows / check_s:,.0f} rows/s)", flush=True)

    t0 = time.monotonic()
    services.apply_import(job=job, actor=admin)
    job.refresh_from_db()
    apply_s = time.monotonic() - t0
    cpu_applied = cpu_seconds()
    assert job.state == ImportState.DONE and job.created_count == args.rows, (job.state, job.failure)
    load_after = os.getloadavg()
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"apply: {apply_s:.1f} s ({args.rows / apply_s:,.0f} rows/s)", flush=True)
    members = Member.objects.filter(merchant=merchant).count()
    lots = Lot.objects.filter(merchant=merchant).count()
    assert members == args.rows, members

    copy_s = copy_into_plain_table(source, args.rows)
    print(f"COPY: {copy_s:.1f} s ({args.rows / copy_s:,.0f} rows/s)", flush=True)

    result = {
        "rows": args.rows,
        "file_mib": round(source.stat().st_size / 2**20, 1),
        "mode": "all_or_nothing (one transaction)",
        "chunk_size": services.CHUNK,
        "tessera": {
            "upload_seconds": round(upload_s, 2),
            "check_seconds": round(check_s, 1),
            "check_rows_per_s": round(args.rows / check_s),
            "apply_seconds": round(apply_s, 1),
            "apply_rows_per_s": round(args.rows / apply_s),
            "total_seconds": round(upload_s + check_s + apply_s, 1),
            "members": members,
            "opening_balance_lots": lots,
            "peak_rss_mib": round(peak_rss_mib),
            # CPU seconds of this process and of its PostgreSQL backend: on a shared machine the wall
            # time is mostly waiting for a core, these are not.
            "check_cpu_seconds": {
                "python": round(cpu_checked[0] - cpu_start[0], 1),
                "postgresql": round(cpu_checked[1] - cpu_start[1], 1),
            },
            "apply_cpu_seconds": {
                "python": round(cpu_applied[0] - cpu_checked[0], 1),
                "postgresql": round(cpu_applied[1] - cpu_checked[1], 1),
            },
        },
        "postgres_copy": {"seconds": round(copy_s, 2), "rows_per_s": round(args.rows / copy_s)},
        "ratio_copy_to_apply": round(copy_s / apply_s, 4),
        "ratio_copy_to_check_and_apply": round(copy_s / (check_s + apply_s), 4),
        "load_average_1_5_15": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in load_after],
        },
    }
    print(
        f"import of {args.rows:,} members: check {check_s:.1f} s + apply {apply_s:.1f} s "
        f"| COPY {copy_s:.1f} s | ratio COPY/apply {copy_s / apply_s:.4f}, "
        f"COPY/(check+apply) {copy_s / (check_s + apply_s):.4f} | load {load_before} → {load_after} "
        f"| CPU check {result['tessera']['check_cpu_seconds']}, "
        f"apply {result['tessera']['apply_cpu_seconds']}",
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
    source.unlink()
    job.file.delete(save=False)  # the uploaded copy under MEDIA_ROOT
    path = write_result(args.result, result)
    print(f"written {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
