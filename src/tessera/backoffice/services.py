"""Writes of the back-office pages: a form posted twice does its work once (E11 for people).

Every form of the cashier screen carries a one-time token. `submit_once` claims it the way the API claims
an Idempotency-Key, with `tessera.core.idempotency.run_once`: a record claimed in the same database
transaction as the work, unique per merchant. A second post of the same form (a double click, a reload
after a slow answer) replays the first outcome: the page it led to, or the error it met.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from tessera.core.errors import DomainError, ValidationFailed
from tessera.core.idempotency import Answer, Claim, run_once
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

    A DomainError from `work` is stored as the outcome too; the work's writes are undone with it, except
    those of a refusal that is itself a record (a wrong PIN is counted even though the confirmation
    failed: `DomainError.keeps_writes`).
    """
    if not _TOKEN.match(token or ""):
        raise ValidationFailed(_("This form has expired; reload the page."), code="form_token_invalid")
    claim = Claim(merchant.pk, f"{_PREFIX}{token}", "POST", path, fingerprint)

    def work_done() -> Answer:
        return Answer(_REDIRECT, work(), "text/uri-list")

    def refusal(exc: DomainError) -> Answer:
        return Answer(_REFUSED, str(exc.message), "text/plain")

    def reused() -> DomainError:
        return ValidationFailed(
            _("This form was already sent with other values. Check the result, then start again."),
            code="form_already_submitted",
        )

    answer = run_once(claim, work=work_done, refusal=refusal, reused=reused)
    if answer.status == _REDIRECT:
        return Outcome(url=answer.body, replayed=answer.replayed)
    return Outcome(error=answer.body, replayed=answer.replayed)
