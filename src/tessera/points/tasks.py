"""The nightly points jobs (E10, issue 15 §1): release what is due, expire what is past, and note the
points expiring within each merchant's notice period (its points policy's `notice_days`).

The jobs follow the lots' own `available_at` and `expires_at`, whatever policy dated them; this module
adds only each merchant's lead time for the notices. `run_nightly(now)` is also what
`tessera run_nightly --as-of …` runs, for an operator catching up after downtime.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from tessera.core.progress import SILENT, Progress
from tessera.ledger import tasks as ledger_tasks
from tessera.ledger.selectors import expiry_notice_days
from tessera.points.models import Policy
from tessera.tenancy.models import Merchant


@dataclass(frozen=True)
class NightlyResult:
    released: int
    expired: int
    notices: int


def record_expiry_notices(now: datetime) -> int:
    """Expiry notices for every merchant, each with its policy's lead time (merchants without a policy
    row yet: the installation's default). One pass of the ledger's job per distinct lead time."""
    lead = dict(Policy.objects.values_list("merchant_id", "notice_days"))
    default = expiry_notice_days()
    by_days: dict[int, list[int]] = defaultdict(list)
    for merchant_id in Merchant.objects.order_by("pk").values_list("pk", flat=True):
        by_days[lead.get(merchant_id, default)].append(merchant_id)
    groups = sorted(by_days.items())
    return sum(ledger_tasks.record_expiry_notices(now, days, merchant_ids=ids) for days, ids in groups)


def run_nightly(now: datetime, *, progress: Progress = SILENT) -> NightlyResult:
    """The nightly jobs as of `now`, in order: release, expire, note coming expiries. Each can re-run."""
    released = ledger_tasks.release_pending(now, progress=progress)
    expired = ledger_tasks.expire_points(now, progress=progress)
    return NightlyResult(released=released, expired=expired, notices=record_expiry_notices(now))


@db_periodic_task(crontab(hour="1", minute="0"))
def nightly_expiry() -> None:
    """01:00 UTC: release what is due, expire what is past, note what expires soon."""
    run_nightly(timezone.now())
