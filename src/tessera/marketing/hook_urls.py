"""Public endpoints of messaging providers (signed delivery receipts) and of members (unsubscribe),
under /hooks/messaging/."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from tessera.marketing import views

app_name = "messaging_hooks"
urlpatterns: list[URLPattern | URLResolver] = [
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("<uuid:token>/", views.receive_receipts, name="receipts"),
]
