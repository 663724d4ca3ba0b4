"""Every write of the imports app (C4): upload, check (dry run), apply, cancel, and the worker passes.

The passes run in a huey task (`tasks.py`) and stream the file a chunk at a time, so a million rows
keep memory flat. The check pass writes only the error report. Apply writes members, tags and
opening balances through the members and ledger services' bulk paths:

- all or nothing: one database transaction over the whole file; any bad row, a database error or a
  cancel rolls everything back;
- skip bad rows: one transaction per chunk, which also records the chunk's bad rows and how far the
  job got (`applied_through_row`), so a task that dies is resumed after the last committed chunk.

Live progress and cancel requests cross the open transaction through two small files next to the
upload (`<file>.progress`, `<file>.cancel`): the worker and the web server share MEDIA_ROOT anyway.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from tessera.core import bulk, events
from tessera.core.errors import Conflict, DomainError, ValidationFailed
from tessera.imports import staging
from tessera.imports.fields import FIELDS_BY_NAME, suggest_mapping
from tessera.imports.models import (
    RUNNING_STATES,
    DuplicatePolicy,
    FileFormat,
    ImportJob,
    ImportMode,
    ImportRowError,
    ImportState,
    StagedRow,
)
from tessera.imports.reading import FileProblem, check_xlsx_archive, file_format, open_table, read_head
from tessera.imports.validation import Problem, RowChecker
from tessera.ledger.models import Account, Entry, Lot
from tessera.ledger.services import credit_opening_balances_from
from tessera.members.models import Member
from tessera.members.services import (
    IMPORT_COLUMNS,
    bulk_update_member_profiles,
    register_members_from,
    tag_members_from,
)
from tessera.reports.triggers import member_counts_deferred
from tessera.tenancy.models import Merchant
from tessera.tenancy.permissions import authorise

log = logging.getLogger(__name__)

#: Rows read, checked and written together: one bulk insert per table per chunk.
CHUNK = 5_000
#: The largest file accepted (a million rows of CSV is about 100 MB; as .xlsx about 60 MB).
MAX_FILE_BYTES = 512 * 2**20
#: A running job whose worker has not reported for this long is taken for dead: cancel ends it at once.
STALLED_AFTER = timedelta(minutes=15)
#: Uploaded files and their error reports are deleted this many days after the job last changed.
RETENTION_DAYS = 7

T = TypeVar("T")

#: The tables apply writes, whose statistics the next blocks' statements are planned with.
WRITTEN = (Member, Member.history.model, Account, Entry, Lot)


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- control files ---------------------------------------------------------------------------------


def _control(job: ImportJob, suffix: str) -> Path:
    return Path(f"{job.file.path}.{suffix}")


def _write_progress(job: ImportJob, *, rows_done: int, fraction: float | None) -> None:
    path = _control(job, "progress")
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"rows_done": rows_done, "fraction": fraction}))
    os.replace(temporary, path)


def read_progress(job: ImportJob) -> tuple[int, float | None]:
    """(rows done, fraction of the file) of the pass running now; the job's own figures otherwise."""
    if job.state in RUNNING_STATES and job.file:
        try:
            data = json.loads(_control(job, "progress").read_text())
            return int(data["rows_done"]), data["fraction"]
        except (OSError, ValueError, KeyError):
            pass
    return job.rows_done, None


def _stalled(job: ImportJob) -> bool:
    """No sign of life from the job's worker for STALLED_AFTER (it reports after every chunk)."""
    try:
        last = datetime.fromtimestamp(_control(job, "progress").stat().st_mtime, tz=UTC)
    except OSError:
        last = job.updated_at
    return max(last, job.updated_at) < timezone.now() - STALLED_AFTER


def cancel_requested(job: ImportJob) -> bool:
    return _control(job, "cancel").exists()


def _clear_controls(job: ImportJob) -> None:
    for suffix in ("progress", "cancel"):
        _control(job, suffix).unlink(missing_ok=True)


# --- services called by views and the API -----------------------------------------------------------


def _problem_error(problem: FileProblem) -> ValidationFailed:
    return ValidationFailed(problem.message, code=problem.code)


def upload_import(*, merchant: Merchant, upload: UploadedFile, actor: Any = None) -> ImportJob:
    """Store an uploaded .xlsx/.csv under MEDIA_ROOT/imports/<merchant>/, read its header row and
    suggest a mapping of its columns. Nothing is checked or imported yet."""
    authorise(actor, "imports.add_importjob", merchant=merchant)
    name = Path(upload.name or "").name
    if (upload.size or 0) > MAX_FILE_BYTES:
        raise ValidationFailed(
            _("The file is larger than %(max)s MB.") % {"max": MAX_FILE_BYTES // 2**20}, code="file_too_large"
        )
    if not upload.size:
        raise ValidationFailed(_("The file is empty."), code="empty_file")
    upload.seek(0)
    head = upload.read(8)
    upload.seek(0)
    try:
        fmt = file_format(name, head)
        if fmt == FileFormat.XLSX:
            check_xlsx_archive(upload)  # a zip bomb is refused before anything is stored
            upload.seek(0)
    except FileProblem as problem:
        raise _problem_error(problem) from None
    job = ImportJob(merchant=merchant, original_name=name[:255], file_format=fmt, file_size=upload.size)
    job.stamp(actor)
    job.file.save(name, upload, save=False)
    try:
        # Only the header row: the worker reads the rest (issue 12: never the whole file in a request).
        job.headers = read_head(
            Path(job.file.path), file_format=fmt, country=merchant.country, rows=0
        ).headers
    except FileProblem as problem:
        job.file.delete(save=False)
        raise _problem_error(problem) from None
    except BaseException:
        job.file.delete(save=False)
        raise
    if not job.headers:
        job.file.delete(save=False)
        raise ValidationFailed(_("The first row has no column names."), code="no_header")
    job.mapping = suggest_mapping(job.headers)
    job.save()
    return job


def _lock(job: ImportJob) -> ImportJob:
    locked: ImportJob = ImportJob.objects.select_for_update().select_related("merchant").get(pk=job.pk)
    return locked


def _refresh(target: ImportJob, source: ImportJob) -> ImportJob:
    for f in ImportJob._meta.concrete_fields:
        setattr(target, f.attname, getattr(source, f.attname))
    return target


def _check_mapping(job: ImportJob, mapping: dict[str, str]) -> dict[str, str]:
    clean = {header: name for header, name in mapping.items() if name}
    unknown_headers = set(clean) - set(job.headers)
    unknown_fields = set(clean.values()) - set(FIELDS_BY_NAME)
    if unknown_headers or unknown_fields:
        raise ValidationFailed(_("The mapping names unknown columns or fields."), code="invalid_mapping")
    names = list(clean.values())
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValidationFailed(
            _("Each field can come from one column only: %(fields)s.")
            % {"fields": ", ".join(str(FIELDS_BY_NAME[n].label) for n in twice)},
            code="field_mapped_twice",
        )
    if "phone" not in names:
        raise ValidationFailed(_("Choose the column that holds the phone."), code="missing_phone_column")
    return clean


def _schedule(task_name: str, job_id: int) -> None:
    from tessera.imports import tasks

    task = getattr(tasks, task_name)
    transaction.on_commit(lambda: task(job_id))


def check_import(
    *,
    job: ImportJob,
    mapping: dict[str, str],
    mode: str,
    duplicate_policy: str,
    default_expiry: date | None = None,
    actor: Any = None,
) -> ImportJob:
    """Save the mapping and options and start the dry run: every row checked, nothing written."""
    authorise(actor, "imports.add_importjob", merchant=job.merchant_id)
    with transaction.atomic():
        locked = _lock(job)
        if locked.state not in (ImportState.UPLOADED, ImportState.VALIDATED, ImportState.FAILED):
            raise Conflict(_("This import can no longer be changed."), code="import_locked")
        if locked.file_deleted_at is not None:
            raise Conflict(_("The file of this import has been deleted."), code="file_deleted")
        if mode not in ImportMode.values:
            raise ValidationFailed(_("Choose what to do with bad rows."), code="invalid_mode")
        if duplicate_policy not in DuplicatePolicy.values:
            raise ValidationFailed(_("Choose what to do with existing members."), code="invalid_policy")
        today = timezone.localdate(timezone=locked.merchant.tz)
        if default_expiry is not None and default_expiry < today:
            raise ValidationFailed(
                _("The default expiry date is in the past."), code="default_expiry_in_past"
            )
        locked.mapping = _check_mapping(locked, mapping)
        locked.mode = mode
        locked.duplicate_policy = duplicate_policy
        locked.default_expiry = default_expiry
        _reset_counts(locked)
        locked.state = ImportState.VALIDATING
        locked.failure = ""
        locked.validated_at = None
        locked.stamp(actor)
        locked.save()
        locked.errors.all().delete()
        _clear_controls(locked)
        _schedule("check_import_task", locked.pk)
    return _refresh(job, locked)


def _reset_counts(job: ImportJob) -> None:
    for name in (
        "total_rows",
        "valid_rows",
        "invalid_rows",
        "created_count",
        "updated_count",
        "skipped_count",
        "points_total",
        "rows_done",
        "applied_through_row",
    ):
        setattr(job, name, 0)


def apply_import(*, job: ImportJob, actor: Any = None) -> ImportJob:
    """Start importing a checked file. Applying twice is refused: the job's state says it is done."""
    authorise(actor, "imports.add_importjob", merchant=job.merchant_id)
    authorise(actor, "members.add_member", merchant=job.merchant_id)
    with transaction.atomic():
        locked = _lock(job)
        if locked.state != ImportState.VALIDATED:
            raise Conflict(_("Only a checked import can be applied, once."), code="import_not_ready")
        if locked.mode == ImportMode.ALL_OR_NOTHING and locked.invalid_rows:
            raise Conflict(
                _("The file has rows with errors: fix them, or choose to skip bad rows."),
                code="import_has_errors",
            )
        if not locked.valid_rows:
            raise Conflict(_("The file has no row to import."), code="nothing_to_import")
        locked.state = ImportState.APPLYING
        locked.started_at = timezone.now()
        locked.applied_through_row = 0
        locked.rows_done = 0
        locked.stamp(actor)
        locked.save()
        _clear_controls(locked)
        _schedule("apply_import_task", locked.pk)
    return _refresh(job, locked)


def cancel_import(*, job: ImportJob, actor: Any = None) -> ImportJob:
    """Stop a job. A running pass stops at its next chunk (all-or-nothing rolls back everything;
    skip-bad-rows keeps the chunks already committed); a waiting job, or one whose worker died, is
    cancelled at once."""
    authorise(actor, "imports.add_importjob", merchant=job.merchant_id)
    with transaction.atomic():
        locked = _lock(job)
        if locked.state in RUNNING_STATES and not _stalled(locked):
            _control(locked, "cancel").touch()
        elif locked.state in RUNNING_STATES:  # its worker died: nobody would read the request
            locked.state = ImportState.CANCELLED
            locked.finished_at = timezone.now()
            locked.stamp(actor)
            locked.save()
            _clear_controls(locked)
        elif locked.state in (ImportState.UPLOADED, ImportState.VALIDATED, ImportState.FAILED):
            locked.state = ImportState.CANCELLED
            locked.finished_at = timezone.now()
            locked.stamp(actor)
            locked.save()
        else:
            raise Conflict(_("This import has already ended."), code="import_ended")
    return _refresh(job, locked)


def delete_stale_files(*, now: datetime | None = None) -> int:
    """Delete uploaded files and error reports of jobs unchanged for RETENTION_DAYS; the job's counts
    stay. Returns how many files were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=RETENTION_DAYS)
    stale = ImportJob.objects.filter(updated_at__lt=cutoff, file_deleted_at__isnull=True).exclude(
        state__in=RUNNING_STATES
    )
    deleted = 0
    for job in stale.iterator():
        if job.file:
            _clear_controls(job)
            job.file.delete(save=False)
        ImportRowError.objects.filter(job=job).delete()
        ImportJob.objects.filter(pk=job.pk).update(file_deleted_at=timezone.now())
        deleted += 1
    return deleted


# --- the worker passes ---------------------------------------------------------------------------


class _Stop(Exception):
    """Ends a pass early; in all-or-nothing mode it rolls the whole import back."""

    def __init__(self, state: ImportState, failure: str = "", problems: list[Problem] | None = None) -> None:
        super().__init__(failure)
        self.state = state
        self.failure = failure
        self.problems = problems or []


_COUNT_FIELDS = [
    "total_rows",
    "valid_rows",
    "invalid_rows",
    "created_count",
    "updated_count",
    "skipped_count",
    "points_total",
    "rows_done",
]


def _save_errors(job: ImportJob, problems: Iterable[Problem]) -> None:
    ImportRowError.objects.bulk_create(
        (
            ImportRowError(
                merchant_id=job.merchant_id,
                job=job,
                row=p.row,
                column=p.column[:200],
                value=p.value[:300],
                code=p.code,
                message=str(p.message)[:500],
            )
            for p in problems
        ),
        batch_size=1000,
    )


def _finish(
    job: ImportJob, state: ImportState, *, failure: str = "", fields: list[str] | None = None
) -> None:
    job.state = state
    job.failure = failure
    job.finished_at = timezone.now() if state != ImportState.VALIDATED else None
    if state == ImportState.VALIDATED:
        job.validated_at = timezone.now()
    job.save(update_fields=["state", "failure", "finished_at", "validated_at", "updated_at", *(fields or [])])
    _clear_controls(job)


def _checker(job: ImportJob, headers: list[str]) -> RowChecker:
    if headers != job.headers:
        raise FileProblem("file_changed", _("The file's columns are not the ones that were mapped."))
    return RowChecker(
        merchant=job.merchant,
        headers=headers,
        mapping=job.mapping,
        default_expiry=job.default_expiry,
    )


def _store(job: ImportJob, counts: staging.Counts) -> None:
    job.total_rows, job.valid_rows, job.invalid_rows = counts.total, counts.valid, counts.invalid
    job.created_count, job.updated_count, job.skipped_count = counts.created, counts.updated, counts.skipped
    job.points_total = counts.points
    job.rows_done = counts.total


def run_check(job_id: int) -> None:
    """The dry run: read every row once into the staging table, record every problem, count what
    apply would do. The rows' own problems are found as they are read; the set rules (duplicates,
    phones already members') over the staged rows at the end."""
    job = ImportJob.objects.select_related("merchant").get(pk=job_id)
    if job.state != ImportState.VALIDATING:
        return  # already checked, or cancelled before the worker got to it
    with translation.override(job.merchant.default_language):
        try:
            staging.clear(job)
            with open_table(
                Path(job.file.path), file_format=job.file_format, country=job.merchant.country
            ) as table:
                checker = _checker(job, table.headers)
                read = 0
                for chunk in _chunks(table.rows, CHUNK):
                    if cancel_requested(job):
                        raise _Stop(ImportState.CANCELLED)
                    rows = [checker.parse(number, cells) for number, cells in chunk]
                    with transaction.atomic():
                        staging.stage(job, rows)
                        _save_errors(job, [p for row in rows for p in row.problems])
                        read += len(rows)
                        job.rows_done = read
                        job.save(update_fields=["rows_done", "updated_at"])
                    _write_progress(job, rows_done=read, fraction=table.progress())
            staging.analyse()
            with transaction.atomic():
                _save_errors(job, staging.find_duplicates(job, phone_header=checker.phone_header))
                _save_errors(
                    job,
                    staging.match_members(
                        job, first=0, last=staging.last_line(job), phone_header=checker.phone_header
                    ),
                )
                _store(job, staging.counts(job))
        except FileProblem as problem:
            if problem.row is not None:
                _save_errors(job, [Problem(problem.row, "", "", problem.code, problem.message)])
            staging.clear(job)
            _finish(job, ImportState.FAILED, failure=str(problem.message))
            return
        except _Stop as stop:
            staging.clear(job)
            _finish(job, stop.state, failure=stop.failure)
            return
        except Exception as exc:  # a database error: report it on the job, never leave it "checking"
            log.exception("Check of import %s failed", job.pk)
            staging.clear(job)
            _finish(job, ImportState.FAILED, failure=str(exc.__class__.__name__))
            return
        if not job.total_rows:
            _finish(
                job, ImportState.FAILED, failure=str(_("The file has no data rows.")), fields=_COUNT_FIELDS
            )
            return
        _finish(job, ImportState.VALIDATED, fields=_COUNT_FIELDS)


def run_apply(job_id: int) -> None:
    """Import the staged rows; see the module docstring for the two modes."""
    job = ImportJob.objects.select_related("merchant", "updated_by").get(pk=job_id)
    if job.state != ImportState.APPLYING:
        return  # done already: an import never runs twice
    with translation.override(job.merchant.default_language):
        reason = str(_("Opening balance"))
        try:
            if job.mode == ImportMode.ALL_OR_NOTHING:
                # One transaction: the customers report's counts are added once, at its end.
                with transaction.atomic(), member_counts_deferred():
                    _apply_rows(job, reason=reason, per_chunk=False)
                    _store(job, staging.counts(job))
                    _finish(job, ImportState.DONE, fields=_COUNT_FIELDS)
            else:
                _apply_rows(job, reason=reason, per_chunk=True)
                _store(job, staging.counts(job))
                _finish(job, ImportState.DONE, fields=_COUNT_FIELDS)
        except _Stop as stop:
            if stop.problems:
                _save_errors(job, stop.problems)
            staging.clear(job)
            _finish(job, stop.state, failure=stop.failure, fields=["applied_through_row"])
            return
        except Exception as exc:  # a database error: report it on the job, never leave it "importing"
            log.exception("Import %s failed", job.pk)
            detail = exc.message if isinstance(exc, DomainError) else exc.__class__.__name__
            _finish(job, ImportState.FAILED, failure=_failure(job, str(detail)))
            return
    staging.clear(job)
    events.publish(
        merchant_id=job.merchant_id,
        type="members.imported",
        payload={"import_id": job.pk, "created": job.created_count, "updated": job.updated_count},
    )


def _failure(job: ImportJob, detail: str) -> str:
    if job.mode == ImportMode.ALL_OR_NOTHING:
        return str(_("The import failed (%(detail)s): nothing was imported.") % {"detail": detail})
    return str(
        _("The import failed (%(detail)s): rows up to row %(row)s were imported, the rest were not.")
        % {"detail": detail, "row": job.applied_through_row}
    )


def _apply_rows(job: ImportJob, *, reason: str, per_chunk: bool) -> None:
    """Write the staged rows CHUNK lines at a time. `per_chunk`: each chunk is its own transaction
    (skip bad rows), which records how far the job got, so a resumed task starts after it;
    otherwise the caller's transaction holds them all and any problem stops everything."""
    phone_header = next((h for h, name in job.mapping.items() if name == "phone"), "")
    last = staging.last_line(job)
    first = start = job.applied_through_row + 1
    while first <= last:
        if cancel_requested(job):
            raise _Stop(ImportState.CANCELLED)
        end = staging.chunk_end(job, first=first, size=CHUNK) or last
        with transaction.atomic():
            # What changed since the check: a phone registered at the till meanwhile.
            problems = staging.match_members(job, first=first, last=end, phone_header=phone_header)
            if problems and not per_chunk:
                row = problems[0].row
                raise _Stop(
                    ImportState.FAILED,
                    str(
                        _("Row %(row)s is not valid (it changed since the check?): nothing was imported.")
                        % {"row": row}
                    ),
                    [p for p in problems if p.row == row],
                )
            _write_chunk(job, first, end, reason=reason)
            if first == start:
                bulk.analyse_unknown(WRITTEN)
            if per_chunk:
                _save_errors(job, problems)
                job.applied_through_row = end
                job.rows_done = end
                job.save(update_fields=["applied_through_row", "rows_done", "updated_at"])
        _write_progress(job, rows_done=end, fraction=end / last)
        first = end + 1


def _write_chunk(job: ImportJob, first: int, last: int, *, reason: str) -> None:
    """Members, their history rows, tags and opening balances of the staged rows between two lines:
    a few `INSERT … SELECT` whatever the number of rows; the members filled in through the members'
    service."""
    source, actor, merchant = f"import:{job.pk}", job.updated_by, job.merchant
    creates = [job.pk, first, last, StagedRow.Action.CREATE.value]
    columns = ", ".join(f"s.{name}" for name in IMPORT_COLUMNS)
    created = register_members_from(
        merchant=merchant,
        rows=f"SELECT {columns} {staging.RANGE} ORDER BY s.line",
        params=creates,
        actor=actor,
        reason=source,
    )
    if created:
        rows, params = staging.created(job, created, first=first, last=last)
        tag_members_from(rows=staging.new_tags(rows), params=params)
        credit_opening_balances_from(
            merchant=merchant,
            rows=f"SELECT c.member_id, s.points AS amount, s.earned_at, s.expires_at {rows} "
            "WHERE s.points > 0",
            params=params,
            actor=actor,
            source=source,
            reason=reason,
        )
    updates = staging.updates(job, first=first, last=last)
    if updates:
        members = Member.objects.in_bulk([member_id for member_id, _values, _tags in updates])
        fields: set[str] = set()
        for member_id, values, _tags in updates:
            member = members[member_id]
            for name, value in staging.fills_of(member, values).items():
                setattr(member, name, value)
                fields.add(name.removesuffix("_id"))
        bulk_update_member_profiles(
            members=[members[member_id] for member_id, _values, _tags in updates],
            fields=sorted(fields),
            tag_ids=[tags for _member_id, _values, tags in updates],
            actor=actor,
            reason=source,
        )
