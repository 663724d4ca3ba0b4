"""Business errors carry a stable code; the API maps them to problem+json, the UI to a message."""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise


class DomainError(Exception):
    """A rule said no. `code` is stable and documented; `message` is translated for the user."""

    code = "domain_error"
    status = 422
    #: True when the refusal was itself recorded (a wrong PIN is counted): the writes made before it
    #: stand and commit with the stored answer. Otherwise a refusal undoes the whole transaction
    #: (`core.idempotency`), so a service may refuse at any point without a savepoint.
    keeps_writes = False

    def __init__(self, message: str | Promise, *, code: str | None = None, **detail: Any) -> None:
        super().__init__(str(message))
        self.message = message
        if code:
            self.code = code
        self.detail = detail

    def __str__(self) -> str:
        return str(self.message)


class NotFound(DomainError):
    code = "not_found"
    status = 404


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403


class Conflict(DomainError):
    code = "conflict"
    status = 409


class ValidationFailed(DomainError):
    code = "validation_failed"
    status = 422
