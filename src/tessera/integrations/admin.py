"""Back office for integrations (K1, K2): shop connections (secret shown once), their deliveries with a
replay action, webhook endpoints (secret shown once, rotated on request, a test delivery sent on request)
and their deliveries with a resend action. Everything is scoped to the staff member's merchant; every
write goes through the services, the management API's too (issue 17)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action, display

from tessera.core.errors import DomainError
from tessera.core.limits import parse_id
from tessera.integrations import services
from tessera.integrations.forms import ConnectionForm, EndpointForm
from tessera.integrations.models import (
    Connection,
    DeliveryStatus,
    InboundDelivery,
    Outcome,
    WebhookDelivery,
    WebhookEndpoint,
)
from tessera.tenancy.admin_base import ReadOnlyAdminMixin, TenantAdmin, TenantHistoryAdmin, request_staff
from tessera.tenancy.models import Merchant


def _adopt(obj: Any, saved: Any) -> None:
    """Make the admin's unsaved instance the row the service created, for the redirect and the log."""
    obj.__dict__.update({k: v for k, v in saved.__dict__.items() if k != "_state"})
    obj._state.adding = False
    obj._state.db = saved._state.db


def _merchant(request: HttpRequest, form: Any, fallback: Any = None) -> Merchant:
    staff = request_staff(request)
    if staff is not None:
        return staff.merchant
    merchant: Merchant = form.cleaned_data.get("merchant") or fallback
    return merchant


def _secret_page(
    request: HttpRequest, admin_obj: Any, obj: Any, secret: str, title: Any, *, rotated: bool = False
) -> TemplateResponse:
    context = {
        **admin_obj.admin_site.each_context(request),
        "title": title,
        "opts": admin_obj.opts,
        "obj": obj,
        "secret": secret,
        "rotated": rotated,
        "hook_url": request.build_absolute_uri(reverse("integrations:receive", args=[obj.token]))
        if isinstance(obj, Connection)
        else "",
    }
    response = TemplateResponse(request, "admin/integrations/secret_created.html", context)
    add_never_cache_headers(response)  # the secret must not stay in any cache
    return response


@admin.register(Connection)
class ConnectionAdmin(TenantHistoryAdmin):
    list_display = (
        "name",
        "platform",
        "store",
        "is_active",
        "hook_url",
        "rejected_count",
        "last_rejected_at",
    )
    list_filter = ("platform", "is_active")
    search_fields = ("name",)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ConnectionForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["platform", "name", "store", "signing_secret"]
        return ["name", "store", "is_active", "platform", "hook_url", "rejected_count", "last_rejected_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["platform", "hook_url", "rejected_count", "last_rejected_at"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: its deliveries and booked orders stay

    @display(description=_("webhook address"))
    def hook_url(self, obj: Connection) -> str:
        return reverse("integrations:receive", args=[obj.token])

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            services.update_connection(
                connection=obj,
                actor=request.user,
                **{k: form.cleaned_data[k] for k in ("name", "store", "is_active") if k in form.changed_data},
            )
            return
        store = form.cleaned_data["store"]
        issued = services.create_connection(
            merchant=store.merchant,
            platform=form.cleaned_data["platform"],
            name=form.cleaned_data["name"],
            store=store,
            secret=form.cleaned_data.get("signing_secret") or "",
            actor=request.user,
        )
        request._issued = issued  # type: ignore[attr-defined]
        _adopt(obj, issued.obj)

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: str | None = None) -> Any:
        issued = getattr(request, "_issued", None)
        if issued is None:
            return super().response_add(request, obj, post_url_continue)
        return _secret_page(request, self, issued.obj, issued.secret, _("Shop connection created"))


@admin.register(InboundDelivery)
class InboundDeliveryAdmin(ReadOnlyAdminMixin, TenantAdmin):
    list_display = (
        "received_at",
        "connection",
        "topic",
        "object_id",
        "outcome",
        "error_code",
        "transaction",
        "member",
    )
    list_filter = ("outcome", "topic", "connection")
    search_fields = ("object_id", "order_ref", "webhook_id")
    date_hierarchy = "received_at"
    list_select_related = ("connection",)
    actions = ("replay_selected",)
    fields = (
        "received_at",
        "connection",
        "topic",
        "webhook_id",
        "object_id",
        "order_ref",
        "outcome",
        "error_code",
        "error",
        "attempts",
        "transaction",
        "refund",
        "member",
        "headers",
        "body",
    )
    readonly_fields = fields

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.replay_inbounddelivery")

    @action(description=_("Replay the selected failed deliveries"), permissions=["replay"])
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[InboundDelivery]) -> None:
        results: dict[str, int] = {}
        for delivery in queryset.select_related("connection__merchant", "connection__store"):
            try:
                done = services.replay(delivery=delivery, actor=request.user)
            except DomainError as exc:
                self.message_user(request, f"{delivery}: {exc}", messages.ERROR)
                continue
            results[done.outcome] = results.get(done.outcome, 0) + 1
        for outcome, count in results.items():
            self.message_user(
                request,
                _("%(count)s delivery(ies) replayed: %(outcome)s.")
                % {"count": count, "outcome": Outcome(outcome).label},
                messages.SUCCESS if outcome != Outcome.FAILED else messages.WARNING,
            )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(TenantHistoryAdmin):
    form = EndpointForm
    list_display = ("url", "description", "is_active", "events")
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    actions_detail = ("rotate_secret_page", "send_test_page")

    @display(description=_("event types"))
    def events(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.event_types) or str(_("All"))

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        fields = {k: form.cleaned_data[k] for k in ("url", "description", "event_types", "is_active")}
        if change:
            services.update_endpoint(
                endpoint=obj,
                actor=request.user,
                **{k: v for k, v in fields.items() if k in form.changed_data},
            )
            return
        issued = services.create_endpoint(
            merchant=_merchant(request, form, getattr(obj, "merchant", None)),
            url=fields["url"],
            event_types=fields["event_types"],
            description=fields["description"],
            actor=request.user,
        )
        if not fields["is_active"]:
            services.update_endpoint(endpoint=issued.obj, actor=request.user, is_active=False)
        request._issued = issued  # type: ignore[attr-defined]
        _adopt(obj, issued.obj)

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: str | None = None) -> Any:
        issued = getattr(request, "_issued", None)
        if issued is None:
            return super().response_add(request, obj, post_url_continue)
        return _secret_page(request, self, issued.obj, issued.secret, _("Webhook endpoint created"))

    def _endpoint(self, request: HttpRequest, object_id: Any) -> WebhookEndpoint:
        pk = parse_id(object_id)
        endpoint = self.get_queryset(request).filter(pk=pk).first() if pk else None
        if endpoint is None:
            raise Http404
        return endpoint

    def has_rotate_secret_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return request.user.has_perm("integrations.change_webhookendpoint")

    def has_send_test_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return request.user.has_perm("integrations.change_webhookendpoint")

    def _confirm(
        self, request: HttpRequest, endpoint: WebhookEndpoint, *, title: Any, intro: Any, submit: Any
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "obj": endpoint,
            "title": title,
            "intro": intro,
            "submit": submit,
            "change_url": reverse("admin:integrations_webhookendpoint_change", args=[endpoint.pk]),
        }
        return TemplateResponse(request, "admin/integrations/confirm.html", context)

    @action(
        description=_("Rotate the secret"),
        url_path="rotate-secret",
        permissions=["rotate_secret"],
        icon="key",
    )
    def rotate_secret_page(self, request: HttpRequest, object_id: str) -> HttpResponse:
        endpoint = self._endpoint(request, object_id)
        if request.method != "POST":
            return self._confirm(
                request,
                endpoint,
                title=_("Rotate the signing secret"),
                intro=_(
                    "A new signing secret replaces the old one at once: every delivery from now on, those "
                    "waiting included, is signed with the new one. Give it to the receiver straight away."
                ),
                submit=_("Rotate the secret"),
            )
        issued = services.rotate_endpoint_secret(endpoint=endpoint, actor=request.user)
        return _secret_page(request, self, issued.obj, issued.secret, _("Secret rotated"), rotated=True)

    @action(description=_("Send a test event"), url_path="test", permissions=["send_test"], icon="send")
    def send_test_page(self, request: HttpRequest, object_id: str) -> HttpResponse:
        endpoint = self._endpoint(request, object_id)
        if request.method != "POST":
            return self._confirm(
                request,
                endpoint,
                title=_("Send a test event"),
                intro=_(
                    "Posts a signed %(event)s event to the endpoint now, whatever event types it receives, "
                    "and keeps it in the delivery log."
                )
                % {"event": services.TEST_EVENT},
                submit=_("Send"),
            )
        delivery = services.send_test_event(endpoint=endpoint, actor=request.user)
        if delivery.status == DeliveryStatus.DELIVERED:
            self.message_user(
                request,
                _("The test event was delivered (HTTP %(code)s).") % {"code": delivery.last_response_code},
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request,
                _("The test event was not delivered: %(error)s. See the delivery log.")
                % {"error": delivery.last_error or delivery.get_status_display()},
                messages.ERROR,
            )
        return HttpResponseRedirect(reverse("admin:integrations_webhookendpoint_change", args=[endpoint.pk]))


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, TenantAdmin):
    list_display = (
        "created_at",
        "endpoint",
        "event_type",
        "status",
        "attempts",
        "last_response_code",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("status", "event_type", "endpoint")
    list_select_related = ("endpoint",)
    actions = ("resend_selected",)
    fields = (
        "endpoint",
        "event_id",
        "event_type",
        "status",
        "attempts",
        "last_attempt_at",
        "last_response_code",
        "last_error",
        "next_attempt_at",
        "delivered_at",
        "payload",
        "created_at",
    )
    readonly_fields = fields

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.resend_webhookdelivery")

    @action(description=_("Send the selected deliveries again"), permissions=["resend"])
    def resend_selected(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        from tessera.integrations.tasks import deliver_webhook

        for delivery in queryset:
            services.resend(delivery=delivery, actor=request.user)
            deliver_webhook(delivery.pk)
        self.message_user(
            request, _("%(count)s delivery(ies) queued again.") % {"count": len(queryset)}, messages.SUCCESS
        )
