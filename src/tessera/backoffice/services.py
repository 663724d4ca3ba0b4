"""Writes of the back-office pages: a form posted twice does its work once (E11 for people).

Every form of the cashier screen carries a one-time token. `submit_once` claims it the way the API claims
an Idempotency-Key (`tessera.core.idempotency`): an `IdempotencyRecord` inserted in the same database
transaction as the work, unique per merchant. A second post of the same form (a double click, a reload
after a slow answer) replays the first outcome: the page it led to, or the error it met.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from tessera.core.errors import DomainError, ValidationFailed
from tessera.core.models import IdempotencyRecord
from tessera.tenancy.models import Merchant

_TOKEN = re.compile(r"^[0-9a-f]{32}$")
_PREFIX = "form:"
_REDIRECT = 303
_REFUSED = 422


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

    A DomainError from `work` is stored as the outcome too, and the work's own writes stay as the service
    left them (a wrong PIN is counted even though the confirmation failed).
    """
    if not _TOKEN.match(token or ""):
        raise ValidationFailed(_("This form has expired; reload the page."), code="form_token_invalid")
    key = f"{_PREFIX}{token}"
    stored = IdempotencyRecord.objects.filter(merchant=merchant, key=key).first()
    if stored is not None:
        return _replay(stored, fingerprint)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    merchant=merchant,
                    key=key,
                    method="POST",
                    path=path[:500],
                    request_hash=fingerprint,
                    status_code=0,
                    response_body="",
                    content_type="",
                )
        except IntegrityError:
            return _replay(IdempotencyRecord.objects.get(merchant=merchant, key=key), fingerprint)
        try:
            outcome = Outcome(url=work())
        except DomainError as exc:
            outcome = Outcome(error=str(exc.message))
        record.status_code = _REDIRECT if outcome.url else _REFUSED
        record.response_body = outcome.url or outcome.error
        record.content_type = "text/uri-list" if outcome.url else "text/plain"
        record.save(update_fields=["status_code", "response_body", "content_type"])
    return outcome


def _replay(record: IdempotencyRecord, fingerprint: str) -> Outcome:
    if record.request_hash != fingerprint:
        raise ValidationFailed(
            _("This form was already sent with other values. Check the result, then start again."),
            code="form_already_submitted",
        )
    if record.status_code == _REDIRECT:
        return Outcome(url=record.response_body, replayed=True)
    return Outcome(error=record.response_body, replayed=True)
