"""Background work of imports: the dry run and apply of a job, and the daily clean-up of old files."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from tessera.imports import services


@db_task()
def check_import_task(job_id: int) -> None:
    services.run_check(job_id)


@db_task()
def apply_import_task(job_id: int) -> None:
    services.run_apply(job_id)


@db_periodic_task(crontab(hour="3", minute="40"))
def delete_stale_import_files() -> int:
    return services.delete_stale_files()
