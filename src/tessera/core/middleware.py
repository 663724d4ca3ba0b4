"""Every answer under /api/v1/ and /hooks/ is problem+json (RFC 9457), those Django and ninja would give
by themselves included: an unknown address (404), a method the address does not take (405), an
unreadable request (400), a body over `DATA_UPLOAD_MAX_MEMORY_SIZE` (413) and any failure of ours (500).

One place for all of them: a client of the API or a shop sending webhooks reads one shape. Django still
handles and logs the exception (the traceback goes to the `django.request` logger); this middleware only
replaces the HTML page it would send, and says nothing of the failure in the answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed, RequestDataTooBig
from django.db import connections
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.translation import gettext as _

from tessera.core.problem import CONTENT_TYPE, problem

#: Addresses for programs, not people.
PREFIXES = ("/api/v1/", "/hooks/")
#: A page for people under those prefixes, which keeps its HTML (the unsubscribe link of a message).
HTML_PAGES = ("/hooks/messaging/unsubscribe/",)
#: Headers of the replaced answer that stay meaningful.
KEPT_HEADERS = ("Allow", "Retry-After")


def machine_facing(path: str) -> bool:
    return path.startswith(PREFIXES) and not path.startswith(HTML_PAGES)


class ProblemMiddleware:
    """Answers under PREFIXES in problem+json, whatever went wrong (placed after LocaleMiddleware, so the
    `detail` is in the request's language)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not machine_facing(request.path):
            return self.get_response(request)
        if _declared_length(request) > _body_limit():
            return too_large(request)
        response = self.get_response(request)
        if response.status_code < 400 or response.get("Content-Type", "").startswith(CONTENT_TYPE):
            return response
        return _replace(request, response)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A body read while the view runs (chunked, or without a Content-Length) may still be too large;
        every other exception is Django's to log and answer (then replaced in `__call__`)."""
        if isinstance(exception, RequestDataTooBig) and machine_facing(request.path):
            return too_large(request)
        return None


def too_large(request: HttpRequest) -> HttpResponse:
    limit = _body_limit()
    return problem(
        request,
        status=413,
        code="payload_too_large",
        detail=_("The request body is larger than the limit of %(limit)s bytes.") % {"limit": limit},
        limit=limit,
    )


def _replace(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    status = response.status_code
    if status == 404:
        answer = problem(request, status=404, code="not_found", detail=_("There is nothing at this address."))
    elif status == 405:
        answer = problem(
            request,
            status=405,
            code="unsupported_method",
            detail=_("This address does not take %(method)s requests.") % {"method": request.method},
        )
    elif status == 400:
        answer = problem(request, status=400, code="bad_request", detail=_("The request could not be read."))
    elif status >= 500:
        answer = problem(
            request,
            status=500,
            code="internal_error",
            detail=_("Something went wrong on our side; it has been logged. Please try again later."),
        )
    else:
        answer = problem(
            request,
            status=status,
            code="http_error",
            detail=_("The request was refused (%(status)s %(reason)s).")
            % {"status": status, "reason": _reason(status)},
        )
    for header in KEPT_HEADERS:
        if header in response:
            answer[header] = response[header]
    return answer


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _body_limit() -> int:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return limit if limit is not None else 2**63


def _declared_length(request: HttpRequest) -> int:
    raw = str(request.META.get("CONTENT_LENGTH") or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() else 0


# --- the API's lean path (issue 13: web CPU per request) ------------------------------------------------

#: Requests from programs with an API key: no cookie, session, signed-in user, CSRF token, flash message
#: or history user means anything to them (the API's views are CSRF-exempt and authenticate by key).
API_PREFIX = "/api/v1/"


def for_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


class NoHealthCheckForApi:
    """First of the middleware: a request under API_PREFIX spends no round trip on
    `CONN_HEALTH_CHECKS`' `SELECT 1` (issue 13: one statement of three for a lookup). A middleware, not
    a `request_started` receiver: it runs after every receiver of that signal, Django's
    `close_old_connections` (which asks for the check) included, whatever their order.

    People's pages keep the check. An API request on a connection the database dropped (a restart, a
    failover) answers 503 `database_unavailable` with Retry-After — the till retries with the same
    Idempotency-Key, which applies once (tests/ops/test_database_outage.py) — and Django closes the
    broken connection when that request ends, so the retry gets a new one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if for_api(request):
            for conn in connections.all(initialized_only=True):
                conn.health_check_done = True  # type: ignore[attr-defined]  # Django's, not in its stubs
        return self.get_response(request)


class ApiShortcut:
    """Requests under API_PREFIX go from here straight to their view (issue 13: web CPU). The middleware
    listed after it serve people's pages — sessions, CSRF, the signed-in user, the staff's idle timeout,
    OTP device, locale and second step, messages, the history's user, the login lockout
    — and mean nothing to a program holding an API key (the API's views are CSRF-exempt and
    authenticate by key); passing eleven layers that each decide to do nothing cost a lookup about a
    tenth of its Python calls. What comes before it (security and frame headers, static files, the
    Content-Security-Policy, the language, problem+json, the control-character guard, Content-Length)
    serves the API too.

    `ViewReached`, last in MIDDLEWARE, hands this middleware the handler it was given — the view with
    Django's exception handling — while Django builds the chain (innermost first), and takes no place in
    the chain itself. Django's own test client builds the same chain, so the tests go the same way."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        to_view = getattr(_building, "to_view", None)
        if to_view is None:
            raise ImproperlyConfigured("ApiShortcut needs ViewReached at the end of MIDDLEWARE")
        _building.to_view = None
        self.to_view: Callable[[HttpRequest], HttpResponse] = to_view

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if for_api(request):
            return self.to_view(request)
        return self.get_response(request)


class ViewReached:
    """The end of MIDDLEWARE: see ApiShortcut."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        _building.to_view = get_response
        raise MiddlewareNotUsed


#: What ViewReached hands ApiShortcut while one thread's handler builds its middleware chain.
_building = threading.local()


class CsrfForPeople(CsrfViewMiddleware):
    """Django's CSRF check, whose `process_view` Django runs for every view, the API's too: an API view
    is not looked at (it is CSRF-exempt; no cookie is read)."""

    def process_view(
        self, request: HttpRequest, view: Any, args: Any, kwargs: Any
    ) -> HttpResponseForbidden | None:
        return None if for_api(request) else super().process_view(request, view, args, kwargs)
