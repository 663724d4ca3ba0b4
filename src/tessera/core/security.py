"""Browser-facing safety: the Content-Security-Policy of each page, and whose session a request uses.

- Every page gets the strict policy of `settings.CONTENT_SECURITY_POLICY` (scripts and styles only from
  this site or with the page's nonce, no eval, no plugins, no framing). The back office relaxes only
  what its admin framework needs: Alpine.js evaluates its attributes with `new Function` (so
  `'unsafe-eval'`), and Unfold writes `style` attributes and `<style>` blocks (so inline styles).
- The member portal (/m/) has its own session cookie, scoped to /m/: the staff session is never read
  there, and signing in or out of one never touches the other.
- A staff session ends after `TESSERA_STAFF_IDLE_MINUTES` without a request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import Any, Literal, cast

from csp.constants import NONCE, SELF, UNSAFE_EVAL, UNSAFE_INLINE
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.contrib import auth
from django.contrib.sessions.backends.base import SessionBase, UpdateError
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import http_date

#: The member portal and the website widget; their session is not the staff's.
PORTAL_PREFIX = "/m/"
#: Pages drawn by the admin framework (Unfold): the admin and our own pages in its layout.
BACK_OFFICE_PREFIX = "/admin/"
#: The API's HTML documentation (Swagger UI, served from our static files).
API_DOCS_PREFIX = "/api/v1/docs"
#: Addresses for programs (API keys, signed webhooks): no session is read there.
MACHINE_PREFIXES = ("/api/", "/hooks/")

#: What the back office needs beyond the strict policy; scripts still need this site or the nonce.
BACK_OFFICE_POLICY: dict[str, Any] = {
    "script-src": [SELF, NONCE, UNSAFE_EVAL],
    "style-src": [SELF, UNSAFE_INLINE],
}
#: Swagger UI sets styles inline; it runs no inline script once ninja's static files are used.
API_DOCS_POLICY: dict[str, Any] = {"style-src": [SELF, UNSAFE_INLINE]}


def policy_for(path: str) -> dict[str, Any] | None:
    """The directives that replace the strict policy's for a page at `path` (None: the strict policy)."""
    if path.startswith(BACK_OFFICE_PREFIX):
        return BACK_OFFICE_POLICY
    if path.startswith(API_DOCS_PREFIX):
        return API_DOCS_POLICY
    return None


#: The policy of an answer that is data, not a document (JSON, problem+json): nothing may load from it
#: and nothing may frame it. Constant, so the till's API answers don't build a policy each (issue 13).
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the policy chosen by the page's address; a view's own
    `@csp_replace` / `@csp_update` still wins. JSON answers get `DATA_POLICY`."""

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        content_type = response.get("Content-Type", "")
        if content_type.startswith(("application/json", "application/problem+json")):
            response.headers.setdefault("Content-Security-Policy", DATA_POLICY)
            return response
        return super().process_response(request, response)

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and parts.config is None and parts.replace is None:
            parts.replace = policy_for(request.path_info)
        return parts


@dataclass(frozen=True)
class SessionCookie:
    name: str
    path: str
    store: type[SessionBase]


@cache
def portal_session_store() -> type[SessionBase]:
    """The session engine's store, living as long as a member stays signed in on their phone."""
    engine: Any = import_module(settings.SESSION_ENGINE)
    base: type[SessionBase] = engine.SessionStore

    class PortalSessionStore(base):  # type: ignore[valid-type, misc]
        def get_session_cookie_age(self) -> int:
            return int(settings.TESSERA_PORTAL_SESSION_DAYS * 24 * 3600)

    return PortalSessionStore


def portal_cookie() -> SessionCookie:
    return SessionCookie(settings.TESSERA_PORTAL_SESSION_COOKIE_NAME, PORTAL_PREFIX, portal_session_store())


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's session middleware, except that under /m/ `request.session` is the member portal's
    session, kept in its own cookie (path /m/). The staff cookie that a browser also sends there is
    never read, so a member's state can't land in a staff session or the other way round."""

    def _cookie(self, request: HttpRequest) -> SessionCookie:
        if request.path_info.startswith(PORTAL_PREFIX):
            return portal_cookie()
        return SessionCookie(settings.SESSION_COOKIE_NAME, settings.SESSION_COOKIE_PATH, self.SessionStore)

    def process_request(self, request: HttpRequest) -> None:
        cookie = self._cookie(request)
        request.session = cookie.store(request.COOKIES.get(cookie.name))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """Django's own, with the cookie's name, path and store in place of the settings'."""
        cookie = self._cookie(request)
        samesite = cast(Literal["Lax", "Strict", "None"] | None, settings.SESSION_COOKIE_SAMESITE)
        try:
            accessed = request.session.accessed
            modified = request.session.modified
            empty = request.session.is_empty()
        except AttributeError:
            return response
        if cookie.name in request.COOKIES and empty:
            response.delete_cookie(
                cookie.name,
                path=cookie.path,
                domain=settings.SESSION_COOKIE_DOMAIN,
                samesite=samesite,
            )
            need_vary_cookie = True
        else:
            need_vary_cookie = accessed
            if (modified or settings.SESSION_SAVE_EVERY_REQUEST) and not empty:
                if request.session.get_expire_at_browser_close():
                    max_age, expires = None, None
                else:
                    max_age = request.session.get_expiry_age()
                    expires = http_date(time.time() + max_age)
                if response.status_code < 500:
                    try:
                        request.session.save()
                    except UpdateError as exc:
                        raise SessionInterrupted(
                            "The request's session was deleted before the request completed."
                        ) from exc
                    response.set_cookie(
                        cookie.name,
                        cast(str, request.session.session_key),  # saved just above
                        max_age=max_age,
                        expires=expires,
                        domain=settings.SESSION_COOKIE_DOMAIN,
                        path=cookie.path,
                        secure=bool(settings.SESSION_COOKIE_SECURE),
                        httponly=bool(settings.SESSION_COOKIE_HTTPONLY),
                        samesite=samesite,
                    )
                    need_vary_cookie = True
        if need_vary_cookie:
            patch_vary_headers(response, ("Cookie",))
        return response


#: The staff session's "last seen" second, and how often it is rewritten (one write a minute at most).
SEEN_KEY = "staff:seen"
TOUCH_SECONDS = 60


class StaffIdleTimeoutMiddleware:
    """Signs staff out after `TESSERA_STAFF_IDLE_MINUTES` without a request (placed after
    AuthenticationMiddleware). `SESSION_COOKIE_AGE` is the same span, so the cookie and the stored
    session lapse with it; this check holds whatever the session engine. Reads nothing for the API,
    the webhooks or a request without a session cookie."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith((*MACHINE_PREFIXES, PORTAL_PREFIX)):
            self._check(request)
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> None:
        session = request.session
        if session.session_key is None or auth.SESSION_KEY not in session:
            return
        now = int(timezone.now().timestamp())
        seen = session.get(SEEN_KEY)
        if isinstance(seen, int) and now - seen > settings.TESSERA_STAFF_IDLE_MINUTES * 60:
            auth.logout(request)
        elif not isinstance(seen, int) or now - seen >= TOUCH_SECONDS:
            session[SEEN_KEY] = now
