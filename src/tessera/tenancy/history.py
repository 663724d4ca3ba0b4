"""Who changed what, by which key (issue 17): a change made through the API names its key.

django-simple-history records the user of a back-office change; an API request has no user, so every
history row written while `changes_by(key)` is open gets the key as its change reason
("API key “Head office” (tsk_ab12cd34)"). The management endpoints open it around their writes
(`changing`, or `change_if_match` and `change_once` around it), together with the transaction.

A step that a person must make (D4's card issuance, F2's four-eyes approval) is made by an `admin` key
for the staff member who created it (`ApiKey.created_by`, `acting_for`): the service checks that
person's own permissions and stores as it checks a signed-in user's, "someone else must make the next
step" compares persons (a key of A's is A), and the history row names both the person and the key. A
key made by no person (by an operator key, a command or another key) makes no such step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from django.db import transaction
from django.dispatch import receiver
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel
from simple_history.signals import pre_create_historical_record

from tessera.core.errors import PermissionDenied
from tessera.core.etag import Shown, require_if_match, tagged
from tessera.core.idempotency import idempotent
from tessera.tenancy.auth import ApiContext, ApiRequest
from tessera.tenancy.models import ApiKey

T = TypeVar("T")
S = TypeVar("S", bound=Shown)

_acting_key: ContextVar[ApiKey | None] = ContextVar("tessera_acting_key", default=None)
_acting_person: ContextVar[Any] = ContextVar("tessera_acting_person", default=None)

#: simple_history's change reason is 100 characters.
REASON_LENGTH = 100


def key_label(key: ApiKey) -> str:
    """How a history row names the key: its name and its public prefix (never the secret)."""
    suffix = f"” (tsk_{key.prefix})"
    return "API key “" + key.name[: REASON_LENGTH - len(suffix) - 9] + suffix


@contextmanager
def changes_by(key: ApiKey) -> Iterator[None]:
    token = _acting_key.set(key)
    try:
        yield
    finally:
        _acting_key.reset(token)


def acting_key() -> ApiKey | None:
    """The API key whose change is being written, if any."""
    return _acting_key.get()


def key_person(key: ApiKey) -> Any:
    """The staff member `key` acts for in a person-bound step: who created it, still active; else 403."""
    person = key.created_by
    if person is None:
        raise PermissionDenied(
            _(
                "This API key was not made by a staff member, so it cannot make a step that a person must "
                "make: use a key a staff member made in the back office."
            ),
            code="key_without_person",
        )
    if not person.is_active:
        raise PermissionDenied(
            _("The staff member who made this API key is deactivated: the key can no longer act for them."),
            code="key_person_inactive",
            person=person.get_username(),
        )
    return person


def key_actor(key: ApiKey) -> Any:
    """Who a key's change is made by: the staff member who made it (`key_person`), or the system (None)
    for a key made by no person."""
    return None if key.created_by_id is None else key_person(key)


@contextmanager
def acting_for(key: ApiKey, person: Any) -> Iterator[Any]:
    """Writes by `key` for `person` (`key_person` or `key_actor`): the history rows name both."""
    token = _acting_person.set(person)
    try:
        with changes_by(key):
            yield person
    finally:
        _acting_person.reset(token)


@contextmanager
def changing(ctx: ApiContext) -> Iterator[None]:
    """One change of the merchant's configuration through the API: a store's key never makes one, the
    change is one transaction, and its history names the key."""
    if ctx.store is not None:
        raise PermissionDenied(
            _("A store's API key cannot change the merchant's settings."), code="store_key"
        )
    with transaction.atomic(), changes_by(ctx.key):
        yield


def change_if_match(
    request: ApiRequest,
    response: HttpResponse,
    *,
    locked: Callable[[], T],
    shown: Callable[[T], S],
    save: Callable[[T], S],
) -> S:
    """One update of the management API: within `changing`, the row read `locked`, refused unless the
    request's `If-Match` names what the API shows of it now (412 / 428, `core.etag`), then `save`d; the
    answer carries its new ETag."""
    with changing(request.auth):
        row = locked()
        require_if_match(request, shown(row))
        answer = save(row)
    tagged(response, answer)
    return answer


def change_once(
    request: ApiRequest, idempotency_key: str, *, status: int, change: Callable[[], BaseModel]
) -> HttpResponse:
    """A POST of the management API that changes the configuration (a create, an archive): `change`
    within `changing`, at most once per Idempotency-Key (a retry replays the answer)."""
    ctx = request.auth

    def work() -> tuple[int, BaseModel]:
        with changing(ctx):
            return status, change()

    return idempotent(request, merchant=ctx.merchant, key=idempotency_key, work=work)


@receiver(pre_create_historical_record)
def _name_the_key(sender: Any, history_instance: Any, **kwargs: Any) -> None:
    key = _acting_key.get()
    if key is not None and not history_instance.history_change_reason:
        history_instance.history_change_reason = key_label(key)
    person = _acting_person.get()
    if key is not None and person is not None and history_instance.history_user_id is None:
        history_instance.history_user = person
