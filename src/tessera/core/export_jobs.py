"""Excel and PDF files of large lists, built by a background job (issue 16).

A web request never builds a big file: it records an `ExportJob` (what to export, for whom) and a huey
task builds the file with `tessera.core.exports`, writing its progress as it goes. The rows are rebuilt
in the task by a *source* registered under a name (`register_source`): the back-office lists register
theirs in `tessera.tenancy.admin_base`, so this module never imports the apps above it.

The file holds personal data, so:
- it is stored in the private `exports` storage (`STORAGES["exports"]`), never under a served address;
- it is read through `download_link`: a signed address that names the job and the user it was given
  to and stops working after `EXPORT_LINK_MAX_AGE` seconds;
- only the requester, and staff holding `core.download_any_exportjob` (merchant admins, platform
  operators), may download it; staff of another merchant get a 404;
- every download is recorded (`ExportDownload`: who, when, which export);
- the job and its file are purged `EXPORT_RETENTION_DAYS` after it was asked for (`purge_expired`,
  hourly, which also marks failed a job whose worker died).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core import signing
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import get_random_string
from django.utils.translation import gettext

from tessera.core import exports
from tessera.core.exports import Column, ExportFormat, ExportTooLarge
from tessera.core.models import ExportDownload, ExportJob, ExportStatus

if TYPE_CHECKING:
    from tessera.tenancy.models import Merchant

logger = logging.getLogger(__name__)

#: Rows between two progress writes: one UPDATE per chunk, not per row.
PROGRESS_EVERY = 2_000
DOWNLOAD_ANY = "core.download_any_exportjob"
_LINK_SALT = "tessera.core.export_jobs.download"


@dataclass(frozen=True)
class ExportContent:
    """What a source gives back for a job: the heading and the rows, in the columns' order."""

    title: str
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]
    filters: Sequence[tuple[str, str]] = ()


Source = Callable[[ExportJob], ExportContent]
_SOURCES: dict[str, Source] = {}


def register_source(name: str, source: Source) -> None:
    """Let jobs named `name` rebuild their rows with `source` (called in the task, in the job's language
    and the merchant's time zone). A source raises `exports.ExportNotAllowed` if the requester has lost
    the right to the data."""
    _SOURCES[name] = source


def storage() -> Storage:
    return storages["exports"]


# --- starting ---------------------------------------------------------------------------------------


@transaction.atomic
def start_export(
    *,
    merchant: Merchant,
    requester: Any,
    source: str,
    params: dict[str, Any],
    fmt: ExportFormat,
    title: str,
    filename: str,
    rows_total: int | None,
) -> ExportJob:
    """Record the export and queue its job (after the commit); the file is built in the background."""
    if source not in _SOURCES:
        raise ValueError(f"unknown export source {source!r}")
    if fmt == "pdf" and rows_total is not None and rows_total > exports.PDF_MAX_ROWS:
        raise ExportTooLarge(exports.too_large_message(exports.PDF_MAX_ROWS))
    now = timezone.now()
    job = ExportJob(
        merchant=merchant,
        requester=requester,
        source=source,
        params=params,
        format=fmt,
        title=title[:200],
        filename=filename[:200],
        language=translation.get_language() or settings.LANGUAGE_CODE,
        rows_total=rows_total,
        expires_at=now + timedelta(days=settings.EXPORT_RETENTION_DAYS),
    )
    job.stamp(requester)
    job.save()
    from tessera.core.tasks import build_export_task

    transaction.on_commit(lambda: build_export_task(job.pk))
    logger.info(
        "export queued job=%s user=%s merchant=%s title=%r format=%s rows=%s",
        job.pk,
        requester.pk,
        merchant.pk,
        job.title,
        fmt,
        rows_total,
    )
    return job


# --- building ---------------------------------------------------------------------------------------


def build_export(job_id: int) -> None:
    """The task's work: rebuild the rows, write the file to the private storage, mark the job done (or
    failed, with the reason shown to the requester)."""
    claimed = ExportJob.objects.filter(pk=job_id, status=ExportStatus.QUEUED).update(
        status=ExportStatus.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return  # already built, or purged before the worker got to it
    job = ExportJob.objects.select_related("merchant", "requester").get(pk=job_id)
    # The reasons of a failure are shown to the requester: in their language, like the file.
    with translation.override(job.language), timezone.override(job.merchant.tz):
        try:
            content = _SOURCES[job.source](job)
            name, written, sheets = _write_file(job, content, _reporting_progress(job, content.rows))
        except (ExportTooLarge, exports.ExportNotAllowed) as refused:
            _fail(job, str(refused.message))
            return
        except Exception:
            logger.exception("export job %s failed", job.pk)
            _fail(job, gettext("The file could not be built. Try again, or export to CSV."))
            return
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportStatus.DONE,
        file=name,
        rows_done=written,
        rows_total=written,
        sheets=sheets,
        finished_at=timezone.now(),
    )
    logger.info("export built job=%s rows=%d file=%s", job.pk, written, name)


def _write_file(
    job: ExportJob, content: ExportContent, rows: Iterable[Sequence[Any]]
) -> tuple[str, int, int]:
    with tempfile.TemporaryFile(suffix=f".{job.format}") as spool:
        if job.format == "xlsx":
            result = exports.write_xlsx(
                spool,
                title=content.title,
                columns=content.columns,
                rows=rows,
                merchant=job.merchant,
                filters=content.filters,
            )
            written, sheets = result.rows, result.sheets
        elif job.format == "pdf":
            counted = _Tally(rows)
            spool.write(
                exports.build_pdf(
                    title=content.title,
                    columns=content.columns,
                    rows=counted,
                    merchant=job.merchant,
                    filters=content.filters,
                    max_rows=exports.PDF_MAX_ROWS,
                )
            )
            written, sheets = counted.count, 0
        else:
            raise ValueError(f"no background export for {job.format!r}")
        spool.seek(0)
        # A random part in the stored name: a file's address cannot be guessed from its job number.
        stored = storage().save(
            f"{job.merchant_id}/{job.pk}-{get_random_string(16)}.{job.format}", File(spool)
        )
    return stored, written, sheets


class _Tally:
    def __init__(self, rows: Iterable[Sequence[Any]]) -> None:
        self.rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[Sequence[Any]]:
        for row in self.rows:
            self.count += 1
            yield row


def _reporting_progress(job: ExportJob, rows: Iterable[Sequence[Any]]) -> Iterator[Sequence[Any]]:
    for done, row in enumerate(rows, start=1):
        yield row
        if done % PROGRESS_EVERY == 0:
            ExportJob.objects.filter(pk=job.pk).update(rows_done=done)


def _fail(job: ExportJob, reason: str) -> None:
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportStatus.FAILED, error=reason, finished_at=timezone.now()
    )


# --- reading ----------------------------------------------------------------------------------------


def exports_visible_to(user: Any, merchant: Merchant | None) -> QuerySet[ExportJob]:
    """The exports `user` may see and download: their own; every one of the merchant's with
    `core.download_any_exportjob`; every merchant's for a platform operator (`merchant` None)."""
    jobs = ExportJob.objects.select_related("requester").order_by("-created_at", "-pk")
    if merchant is None:
        return jobs if user.is_superuser else jobs.none()
    jobs = jobs.filter(merchant=merchant)
    return jobs if user.has_perm(DOWNLOAD_ANY) else jobs.filter(requester=user)


def download_link(job: ExportJob, user: Any) -> str:
    """A signed address of the file for `user`, good for `EXPORT_LINK_MAX_AGE` seconds."""
    token = signing.TimestampSigner(salt=_LINK_SALT).sign(f"{job.pk}:{user.pk}")
    return reverse("exports:download", args=[token])


class LinkExpired(Exception):
    pass


def job_of_link(token: str, user: Any) -> int:
    """The job a download link names, for the user it was given to; `LinkExpired` when it is too old,
    `signing.BadSignature` when it was not made by us for this user."""
    try:
        value = signing.TimestampSigner(salt=_LINK_SALT).unsign(token, max_age=settings.EXPORT_LINK_MAX_AGE)
    except signing.SignatureExpired as expired:
        raise LinkExpired from expired
    job_id, user_id = value.split(":")
    if int(user_id) != user.pk:
        raise signing.BadSignature("the link was given to another user")
    return int(job_id)


def record_download(*, job: ExportJob, user: Any) -> ExportDownload:
    logger.info("export downloaded job=%s user=%s merchant=%s", job.pk, user.pk, job.merchant_id)
    return ExportDownload.objects.create(merchant_id=job.merchant_id, job=job, title=job.title, user=user)


# --- purging ----------------------------------------------------------------------------------------


#: A job still waiting or running this long after it was asked for has lost its worker.
STALE_AFTER = timedelta(hours=2)


def purge_expired(*, now: Any = None) -> int:
    """Delete the exports past their retention, files first; the download log stays. Returns the count.
    Jobs whose worker died are marked failed, so My exports stops waiting for them."""
    now = now or timezone.now()
    for job in ExportJob.objects.filter(
        status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING], created_at__lt=now - STALE_AFTER
    ).only("pk", "language"):
        with translation.override(job.language):
            _fail(job, gettext("The file could not be built. Try again, or export to CSV."))
    files = storage()
    purged = 0
    for job in ExportJob.objects.filter(expires_at__lte=now).only("pk", "file"):
        if job.file and files.exists(job.file):
            files.delete(job.file)
        job.delete()
        purged += 1
    return purged
