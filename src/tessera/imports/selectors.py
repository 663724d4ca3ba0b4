"""Reads of the imports app: jobs a staff member may see, a job's progress and its error report."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db.models import QuerySet

from tessera.imports.models import ImportJob, ImportRowError, ImportState
from tessera.imports.reading import FileProblem, read_head
from tessera.imports.services import cancel_requested, read_progress


def jobs_visible_to(user: Any, staff: Any) -> QuerySet[ImportJob]:
    """The staff member's merchant's jobs; every job for a platform operator; none otherwise."""
    if getattr(user, "is_superuser", False):
        return ImportJob.objects.select_related("merchant", "created_by")
    return ImportJob.objects.visible_to(staff).select_related("merchant", "created_by")


@dataclass(frozen=True)
class Progress:
    state: str
    state_label: str
    running: bool
    cancelling: bool
    rows_done: int
    percent: int | None
    total_rows: int
    valid_rows: int
    invalid_rows: int
    created: int
    updated: int
    skipped: int
    points: int
    failure: str


def progress_of(job: ImportJob) -> Progress:
    rows_done, fraction = read_progress(job)
    percent = None
    if job.is_running and fraction is not None:
        percent = min(int(fraction * 100), 99)
    elif job.state in (ImportState.VALIDATED, ImportState.DONE):
        percent = 100
    return Progress(
        state=job.state,
        state_label=str(job.get_state_display()),
        running=job.is_running,
        cancelling=job.is_running and cancel_requested(job),
        rows_done=rows_done,
        percent=percent,
        total_rows=job.total_rows,
        valid_rows=job.valid_rows,
        invalid_rows=job.invalid_rows,
        created=job.created_count,
        updated=job.updated_count,
        skipped=job.skipped_count,
        points=job.points_total,
        failure=job.failure,
    )


def error_rows(job: ImportJob) -> Iterator[tuple[int, str, str, str, str]]:
    """(row, column, value, code, message) of every problem, in row order, streamed."""
    return (
        ImportRowError.objects.filter(job=job)
        .order_by("row", "pk")
        .values_list("row", "column", "value", "code", "message")
        .iterator(chunk_size=2000)
    )


def sample_values(job: ImportJob, *, rows: int = 3) -> dict[str, list[str]]:
    """The first few values of each column, shown beside the mapping choices."""
    samples: dict[str, list[str]] = {header: [] for header in job.headers}
    if not job.file or job.file_deleted_at is not None:
        return samples
    try:
        head = read_head(
            Path(job.file.path), file_format=job.file_format, country=job.merchant.country, rows=rows
        )
    except (FileProblem, OSError):
        return samples
    for _number, cells in head.rows:
        for header, cell in zip(head.headers, cells, strict=False):
            if header in samples and cell not in (None, ""):
                samples[header].append(str(cell)[:40])
    return samples
