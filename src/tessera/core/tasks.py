"""Background work of core: building export files (issue 16) and purging them after their retention."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from tessera.core import export_jobs


@db_task()
def build_export_task(job_id: int) -> None:
    export_jobs.build_export(job_id)


@db_periodic_task(crontab(minute="15"))
def purge_expired_exports() -> int:
    return export_jobs.purge_expired()
