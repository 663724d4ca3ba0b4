"""Small helpers for portal tests."""

from __future__ import annotations

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.test import Client

from tessera.core.security import portal_session_store


def member_session(client: Client) -> SessionBase:
    """The test client's portal session: the member's own cookie, not `client.session` (the staff's).
    Like `client.session`, it is created (and its cookie set) on first use; save it after writing."""
    store = portal_session_store()
    name = settings.TESSERA_PORTAL_SESSION_COOKIE_NAME
    cookie = client.cookies.get(name)
    if cookie is not None and store().exists(cookie.value):
        return store(cookie.value)
    session = store()
    session.save()
    client.cookies[name] = session.session_key
    return session
