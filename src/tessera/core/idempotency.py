"""Exactly once (E11): every POST carries an `Idempotency-Key`; a retry gets the first answer back.

The key is claimed by inserting an `IdempotencyRecord` in the same database transaction as the work.
A concurrent duplicate blocks on the unique index (merchant, key) until the first transaction ends:
if it committed, the duplicate replays its answer; if it rolled back, the duplicate does the work.
Business errors (problem+json, 4xx) are stored and replayed too, so a retry never runs a rule twice;
an unexpected exception (5xx) rolls everything back and the key stays free.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Header
from pydantic import BaseModel

from tessera.core.errors import DomainError
from tessera.core.models import IdempotencyRecord
from tessera.core.problem import domain_problem

if TYPE_CHECKING:
    from tessera.tenancy.models import Merchant

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
#: Records are kept this many days (setting IDEMPOTENCY_RETENTION_DAYS), then purged by a periodic task.
DEFAULT_RETENTION_DAYS = 7


MISSING_KEY = _("Send an Idempotency-Key header with every POST request.")
DOC = (
    "Required on every POST. A retry with the same key and body gets the first answer again, with "
    f"`{REPLAYED_HEADER}: true`; the same key with another body is refused (422 `idempotency_key_reused`)."
)


def key_header() -> Any:
    """The documented, required `Idempotency-Key` header parameter for a ninja endpoint."""
    return Header(..., alias=HEADER, description=DOC, examples=["c0a8012e-7d5b-4c3e-9f1a"])


class IdempotencyKeyRequired(DomainError):
    code = "idempotency_key_required"
    status = 400


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422


def fingerprint(request: HttpRequest) -> str:
    """What makes two requests "the same": method, path and the exact body bytes."""
    digest = hashlib.sha256()
    digest.update(f"{request.method}\n{request.path}\n".encode())
    digest.update(request.body)
    return digest.hexdigest()


def idempotent(
    request: HttpRequest,
    *,
    merchant: Merchant,
    key: str | None,
    work: Callable[[], tuple[int, BaseModel]],
) -> HttpResponse:
    """Run `work` at most once per (merchant, `key`) and answer with its stored response.

    `key` is the request's Idempotency-Key header; `work` returns (status, schema); a DomainError it
    raises becomes a stored problem+json answer.
    """
    key = (key or "").strip()
    if not key:
        raise IdempotencyKeyRequired(MISSING_KEY)
    if len(key) > MAX_KEY_LENGTH:
        raise IdempotencyKeyRequired(
            _("The Idempotency-Key header is longer than %(max)s characters.") % {"max": MAX_KEY_LENGTH}
        )
    request_hash = fingerprint(request)

    stored = IdempotencyRecord.objects.filter(merchant=merchant, key=key).first()
    if stored is not None:
        return _replay(request, stored, request_hash)

    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    merchant=merchant,
                    key=key,
                    method=request.method or "",
                    path=request.path[:500],
                    request_hash=request_hash,
                    status_code=0,
                    response_body="",
                    content_type="",
                )
        except IntegrityError:
            # A concurrent duplicate committed first (we waited for it on the unique index).
            return _replay(request, IdempotencyRecord.objects.get(merchant=merchant, key=key), request_hash)
        response = _run(request, work)
        record.status_code = response.status_code
        record.response_body = response.content.decode()
        record.content_type = response["Content-Type"]
        record.save(update_fields=["status_code", "response_body", "content_type"])
    return response


def _run(request: HttpRequest, work: Callable[[], tuple[int, BaseModel]]) -> HttpResponse:
    try:
        status, payload = work()
    except DomainError as exc:
        return domain_problem(request, exc)
    return HttpResponse(
        payload.model_dump_json(by_alias=True), status=status, content_type="application/json"
    )


def _replay(request: HttpRequest, record: IdempotencyRecord, request_hash: str) -> HttpResponse:
    if record.request_hash != request_hash:
        raise IdempotencyKeyReused(
            _("This Idempotency-Key was already used for a different request; use a new key.")
        )
    response = HttpResponse(record.response_body, status=record.status_code, content_type=record.content_type)
    response[REPLAYED_HEADER] = "true"
    return response


def purge_idempotency_records(*, older_than_days: int | None = None, now: datetime | None = None) -> int:
    """Delete records older than the retention period; returns how many were deleted."""
    days = (
        older_than_days
        if older_than_days is not None
        else getattr(settings, "IDEMPOTENCY_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)
    )
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted, _by_model = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
