"""ETag and If-Match for the configuration API (issue 17): an update names the version it read, so an API
client and a back-office user never overwrite each other's change unseen.

The tag is a hash of what the API shows of the object (its output schema, as JSON), not a stored
version column: any change a person could see — by the API or the back office — changes it, and no
table needs a new column. An update reads the object locked (`select_for_update`), computes its tag,
and refuses with 412 `precondition_failed` when `If-Match` names another one, or 428
`precondition_required` when there is none. Answers carry the tag in `ETag`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel

from tessera.core.errors import DomainError


class PreconditionFailed(DomainError):
    code = "precondition_failed"
    status = 412


class PreconditionRequired(DomainError):
    code = "precondition_required"
    status = 428


#: What an ETag is computed from: what the API shows of an object.
Shown = BaseModel | dict[str, Any]


def etag_of(shown: Shown) -> str:
    """The strong tag of what the API shows (quoted, as HTTP writes it)."""
    data = shown.model_dump(mode="json") if isinstance(shown, BaseModel) else shown
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return '"' + hashlib.sha256(canonical.encode()).hexdigest()[:32] + '"'


def require_if_match(request: HttpRequest, current: Shown) -> None:
    """Refuse an update whose `If-Match` does not name the current version (call it with the row
    locked, before changing anything). `*` matches any version, as RFC 9110 says."""
    sent = request.headers.get("If-Match", "").strip()
    if not sent:
        raise PreconditionRequired(
            _("Send If-Match with the ETag you read, so that no one else's change is overwritten unseen.")
        )
    if sent == "*":
        return
    wanted = etag_of(current)
    tags = {tag.strip().removeprefix("W/") for tag in sent.split(",")}
    if wanted not in tags:
        raise PreconditionFailed(
            _("This was changed since you read it. Read it again, then send your change with its new ETag."),
            etag=wanted,
        )


def tagged(response: HttpResponse, shown: Shown) -> HttpResponse:
    """Set the ETag header of an answer showing `shown`."""
    response["ETag"] = etag_of(shown)
    return response


def tagged_json(response: HttpResponse) -> HttpResponse:
    """Set the ETag of a successful JSON answer from its body (an idempotent replay gets it too)."""
    if 200 <= response.status_code < 300 and response.get("Content-Type", "").startswith("application/json"):
        response["ETag"] = etag_of(json.loads(response.content))
    return response
