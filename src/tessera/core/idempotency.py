"""Exactly once (E11): every POST carries an `Idempotency-Key`; a retry gets the first answer back.

`run_once` is the one implementation, used by the API (`idempotent`) and by the back office's forms
(`submit_once`, with a one-time token in the form instead of the header). In one transaction it claims
the key with a single `INSERT … ON CONFLICT DO NOTHING RETURNING id`, does the work and stores the
answer in the row it claimed. A concurrent duplicate's insert waits on the unique index (merchant, key)
— (operator key, key) for the platform operator's requests, which have no merchant (issue 17) —
until the first transaction ends: if it committed, the duplicate replays its answer; if it rolled back,
the duplicate does the work.

Refusals need no savepoint: a business error (problem+json, 4xx) rolls the whole transaction back and
is stored in a fresh one, claimed the same way, so a retry replays it and never runs a rule twice. A
refusal that was itself recorded (`DomainError.keeps_writes`, a wrong PIN counted) is stored in the
work's own transaction instead. An unexpected exception (5xx) rolls everything back and the key stays
free.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.http.request import RawPostDataException
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Header
from pydantic import BaseModel

from tessera.core.errors import DomainError, ValidationFailed
from tessera.core.models import IdempotencyRecord
from tessera.core.problem import domain_problem
from tessera.core.transactions import without_savepoints

if TYPE_CHECKING:
    from tessera.tenancy.models import Merchant, OperatorKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
#: Records are kept this many days (setting IDEMPOTENCY_RETENTION_DAYS), then purged by a periodic task.
DEFAULT_RETENTION_DAYS = 7


MISSING_KEY = _("Send an Idempotency-Key header with every POST request.")
DOC = (
    "Required on every POST that changes something. A retry with the same key and body gets the first "
    f"answer again, with `{REPLAYED_HEADER}: true`; the same key with another body is refused "
    "(422 `idempotency_key_reused`)."
)


def key_header() -> Any:
    """The documented, required `Idempotency-Key` header parameter for a ninja endpoint."""
    return Header(..., alias=HEADER, description=DOC, examples=["c0a8012e-7d5b-4c3e-9f1a"])


READ_ONLY_DOC = (
    "Optional and ignored: this request changes nothing, so nothing is stored and a retry simply asks "
    "again (issue 13)."
)


def ignored_key_header() -> Any:
    """The `Idempotency-Key` of a POST that only reads (a quote, a simulation): accepted, not needed."""
    return Header(None, alias=HEADER, description=READ_ONLY_DOC)


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
    try:
        digest.update(request.body)
    except RawPostDataException:
        # A multipart upload was read from the stream to parse its files: its fields and files make it.
        for name, values in sorted(request.POST.lists()):
            digest.update(f"{name}={values}\n".encode())
        for name, files in sorted(request.FILES.lists()):
            for upload in files:
                digest.update(f"{name}:{upload.name}:{upload.size}\n".encode())
                for chunk in upload.chunks():
                    digest.update(chunk)
                upload.seek(0)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Answer:
    """What a guarded piece of work answered, as stored: status, body and its content type."""

    status: int
    body: str
    content_type: str
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Claim:
    """Who asks: the key within its merchant (or, for the operator, its operator key), and the
    fingerprint a replay must match."""

    merchant_id: int | None
    key: str
    method: str
    path: str
    request_hash: str
    operator_key_id: int | None = None


def run_once(
    claim: Claim,
    *,
    work: Callable[[], Answer],
    refusal: Callable[[DomainError], Answer],
    reused: Callable[[], DomainError],
    claim_at_end: bool = False,
) -> Answer:
    """Run `work` at most once per claimed key; every later call with the key gets the stored answer.

    A DomainError from `work` becomes `refusal(error)`, stored like any answer. A call whose fingerprint
    differs from the stored one raises `reused()`.

    `claim_at_end`: claim the key with the answer, in one statement after the work, instead of before it
    and storing the answer after (one statement fewer). A retry then does the work again before it finds
    the key taken, and the transaction is rolled back: only for work whose every effect is in the
    database (events go out on commit); never for work that sends something itself (an SMS)."""
    try:
        with transaction.atomic(), without_savepoints():
            record_id = None if claim_at_end else _claim(claim, None)
            if claim_at_end or record_id is not None:
                try:
                    answer = work()
                except DomainError as exc:
                    if not exc.keeps_writes:
                        raise
                    answer = refusal(exc)
                if record_id is not None:
                    _store(record_id, answer)
                    return answer
                if _claim(claim, answer) is not None:
                    return answer
                raise _Taken  # a first call committed meanwhile: undo this one, replay that one
    except _Taken:
        pass
    except DomainError as exc:
        # The work refused: everything it wrote is gone with the transaction; keep only the answer.
        answer = refusal(exc)
        with transaction.atomic():
            if _claim(claim, answer) is not None:
                return answer
    return _replay(claim, reused)


class _Taken(Exception):
    """The key was claimed by another call while this one worked."""


_COLUMNS = (
    "merchant_id",
    "operator_key_id",
    "key",
    "method",
    "path",
    "request_hash",
    "status_code",
    "response_body",
    "content_type",
    "created_at",
)


@cache
def _claim_sql(vendor: str, *, operator: bool = False) -> str:
    """The claiming INSERT, the same on PostgreSQL and SQLite (3.35+); names from the model, quoted.
    Built once per backend and owner (a merchant, or an operator key)."""
    quote = connection.ops.quote_name
    table = quote(IdempotencyRecord._meta.db_table)
    columns = ", ".join(quote(name) for name in _COLUMNS)
    holes = ", ".join(["%s"] * len(_COLUMNS))
    unique = f"{quote('operator_key_id' if operator else 'merchant_id')}, {quote('key')}"
    return f"INSERT INTO {table} ({columns}) VALUES ({holes}) ON CONFLICT ({unique}) DO NOTHING RETURNING id"  # noqa: S608


def _claim(claim: Claim, answer: Answer | None) -> int | None:
    """Insert the key's row (with `answer` when it is already known); None when the key is taken."""
    status, body, content_type = (answer.status, answer.body, answer.content_type) if answer else (0, "", "")
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    sql = _claim_sql(connection.vendor, operator=claim.merchant_id is None)
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                claim.merchant_id,
                claim.operator_key_id,
                claim.key,
                claim.method,
                claim.path[:500],
                claim.request_hash,
                status,
                body,
                content_type,
                now,
            ],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else None


def _store(record_id: int, answer: Answer) -> None:
    IdempotencyRecord.objects.filter(pk=record_id).update(
        status_code=answer.status, response_body=answer.body, content_type=answer.content_type
    )


def _replay(claim: Claim, reused: Callable[[], DomainError]) -> Answer:
    """The stored answer: the first call committed it (a claim waits for a concurrent first call)."""
    owner = (
        {"merchant_id": claim.merchant_id}
        if claim.merchant_id is not None
        else {"merchant__isnull": True, "operator_key_id": claim.operator_key_id}
    )
    record = IdempotencyRecord.objects.get(key=claim.key, **owner)
    if record.request_hash != claim.request_hash:
        raise reused()
    return Answer(record.status_code, record.response_body, record.content_type, replayed=True)


def idempotent(
    request: HttpRequest,
    *,
    merchant: Merchant | None,
    key: str | None,
    work: Callable[[], tuple[int, BaseModel]],
    claim_at_end: bool = False,
    operator_key: OperatorKey | None = None,
) -> HttpResponse:
    """Run `work` at most once per (merchant, `key`) — per (`operator_key`, `key`) for the operator,
    who has no merchant — and answer with its stored response.

    `key` is the request's Idempotency-Key header; `work` returns (status, schema); a DomainError it
    raises becomes a stored problem+json answer. `claim_at_end`: see `run_once`.
    """
    key = (key or "").strip()
    if not key:
        raise IdempotencyKeyRequired(MISSING_KEY)
    if len(key) > MAX_KEY_LENGTH:
        raise IdempotencyKeyRequired(
            _("The Idempotency-Key header is longer than %(max)s characters.") % {"max": MAX_KEY_LENGTH}
        )

    def answer() -> Answer:
        status, payload = work()
        return Answer(status, payload.model_dump_json(by_alias=True), "application/json")

    def refusal(exc: DomainError) -> Answer:
        problem = domain_problem(request, exc)
        return Answer(problem.status_code, problem.content.decode(), problem["Content-Type"])

    def reused() -> DomainError:
        return IdempotencyKeyReused(
            _("This Idempotency-Key was already used for a different request; use a new key.")
        )

    if (merchant is None) == (operator_key is None):
        raise TypeError("idempotent() needs a merchant or an operator key, not both")
    claim = Claim(
        merchant.pk if merchant is not None else None,
        key,
        request.method or "",
        request.path,
        fingerprint(request),
        operator_key_id=operator_key.pk if operator_key is not None else None,
    )
    result = run_once(claim, work=answer, refusal=refusal, reused=reused, claim_at_end=claim_at_end)
    response = HttpResponse(result.body, status=result.status, content_type=result.content_type)
    if result.replayed:
        response[REPLAYED_HEADER] = "true"
    return response


# --- the back office's forms --------------------------------------------------------------------------
#
# Every form that writes (the cashier screen, a refund) carries a one-time token. `submit_once` claims it
# the way the API claims an Idempotency-Key: a second post of the same form (a double click, a reload
# after a slow answer) replays the first outcome, the page it led to or the error it met. It lives here,
# beside `run_once`, so the admin pages of any app can use it (issue 14).

_FORM_TOKEN = re.compile(r"^[0-9a-f]{32}$")
_FORM_PREFIX = "form:"
_FORM_REDIRECT = 303
_FORM_REFUSED = 422


def new_form_token() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Outcome:
    """Where the form led (`url`), or why it could not (`error`); `replayed` when it was posted before."""

    url: str = ""
    error: str = ""
    replayed: bool = False


def form_fingerprint(*, path: str, fields: dict[str, list[str]]) -> str:
    """What makes two posts "the same form": the page and the fields, whatever order they came in."""
    digest = hashlib.sha256(f"{path}\n".encode())
    for name in sorted(fields):
        if name == "csrfmiddlewaretoken":
            continue
        for value in fields[name]:
            digest.update(f"{name}={value}\n".encode())
    return digest.hexdigest()


def submit_once(
    *, merchant: Merchant, token: str, path: str, fingerprint: str, work: Callable[[], str]
) -> Outcome:
    """Run `work` (which returns the URL to go to) at most once for this form token.

    A DomainError from `work` is stored as the outcome too; the work's writes are undone with it, except
    those of a refusal that is itself a record (a wrong PIN is counted even though the confirmation
    failed: `DomainError.keeps_writes`).
    """
    if not _FORM_TOKEN.match(token or ""):
        raise ValidationFailed(_("This form has expired; reload the page."), code="form_token_invalid")
    claim = Claim(merchant.pk, f"{_FORM_PREFIX}{token}", "POST", path, fingerprint)

    def work_done() -> Answer:
        return Answer(_FORM_REDIRECT, work(), "text/uri-list")

    def refusal(exc: DomainError) -> Answer:
        return Answer(_FORM_REFUSED, str(exc.message), "text/plain")

    def reused() -> DomainError:
        return ValidationFailed(
            _("This form was already sent with other values. Check the result, then start again."),
            code="form_already_submitted",
        )

    answer = run_once(claim, work=work_done, refusal=refusal, reused=reused)
    if answer.status == _FORM_REDIRECT:
        return Outcome(url=answer.body, replayed=answer.replayed)
    return Outcome(error=answer.body, replayed=answer.replayed)


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
