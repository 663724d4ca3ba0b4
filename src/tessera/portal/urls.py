"""Member portal (/m/<merchant>/) and website widget (/m/<merchant>/widget.js, /m/<merchant>/widget/api/)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from tessera.portal import views, widget

app_name = "portal"
urlpatterns: list[URLPattern | URLResolver] = [
    path("<slug:slug>/", views.home, name="home"),
    path("<slug:slug>/login/", views.login, name="login"),
    path("<slug:slug>/login/code/", views.verify, name="verify"),
    path("<slug:slug>/login/code/resend/", views.resend, name="resend"),
    path("<slug:slug>/logout/", views.logout, name="logout"),
    path("<slug:slug>/history/", views.history, name="history"),
    path("<slug:slug>/password/", views.password, name="password"),
    path("<slug:slug>/offers/<int:offer_id>/redeem/", views.redeem, name="redeem"),
    path("<slug:slug>/gifts/<int:gift_id>/request/", views.gift, name="gift"),
    path("<slug:slug>/points/send/", views.send_points, name="send_points"),
    path("<slug:slug>/codes/<str:code>/qr.svg", views.code_qr, name="code_qr"),
    path("<slug:slug>/widget.js", widget.script, name="widget_js"),
    path("<slug:slug>/widget/api/me", widget.me, name="widget_me"),
    path("<slug:slug>/widget/api/redeem", widget.redeem, name="widget_redeem"),
]
