"""Back office for messaging (I1–I4): channel settings, templates with preview and SMS part count,
campaigns (audience count, launch, cancel, retry failed), every message with its status, automatic
notices and holidays. Scoped to the staff member's merchant; every write goes through the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action, display
from unfold.widgets import (
    UnfoldAdminFileFieldWidget,
    UnfoldAdminPasswordWidget,
    UnfoldAdminRadioSelectWidget,
    UnfoldAdminSplitDateTimeWidget,
    UnfoldAdminTextInputWidget,
)

from tessera.core import outbound
from tessera.core.errors import DomainError
from tessera.core.formatting import format_quantity
from tessera.core.limits import parse_id
from tessera.marketing import rendering, selectors, services
from tessera.marketing.models import (
    AudienceKind,
    Campaign,
    CampaignStatus,
    ChannelKind,
    ChannelSettings,
    Holiday,
    Message,
    MessageStatus,
    MessageTemplate,
    NoticeRule,
)
from tessera.members.models import Segment
from tessera.tenancy.admin_base import (
    LocalDateRangeFilter,
    ReadOnlyAdminMixin,
    TenantAdmin,
    TenantHistoryAdmin,
    request_staff,
)
from tessera.tenancy.models import Merchant


def _adopt(obj: Any, saved: Any) -> None:
    """Make the admin's unsaved instance the row the service saved, for the redirect and the log."""
    for f in type(saved)._meta.concrete_fields:
        setattr(obj, f.attname, getattr(saved, f.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db


def _merchant_id(request: HttpRequest, obj: Any) -> int | None:
    staff = request_staff(request)
    if staff is not None:
        return staff.merchant_id
    return getattr(obj, "merchant_id", None)


# --- channel settings ------------------------------------------------------------------------------------


class ChannelSettingsForm(forms.ModelForm):
    sms_api_url = forms.URLField(
        label=_("provider API address"),
        required=False,
        max_length=500,
        assume_scheme="https",
        widget=UnfoldAdminTextInputWidget,
    )
    api_key = forms.CharField(
        label=_("provider API key"),
        required=False,
        max_length=300,
        widget=UnfoldAdminPasswordWidget(render_value=False),
        help_text=_("Stored for sending and never shown again. Leave empty to keep the current key."),
    )

    class Meta:
        model = ChannelSettings
        fields = [
            "sms_provider",
            "sms_api_url",
            "sms_sender",
            "sms_rate_per_minute",
            "sms_part_price",
            "email_from",
            "email_from_name",
            "email_rate_per_minute",
            "greeting_hour",
        ]

    def clean_sms_api_url(self) -> str:
        url: str = self.cleaned_data.get("sms_api_url") or ""
        if url:
            try:
                outbound.validate_url(url)
            except DomainError as exc:
                raise forms.ValidationError(str(exc), code=exc.code) from None
        return url


@admin.register(ChannelSettings)
class ChannelSettingsAdmin(TenantHistoryAdmin):
    form = ChannelSettingsForm
    list_display = ["__str__", "sms_provider", "sms_sender", "sms_rate_per_minute", "email_from"]
    readonly_fields = ["api_key_set", "receipt_url", "receipt_secret_shown", "rejected_receipts"]
    actions_detail = ["rotate_secret"]
    fieldsets = [
        (
            _("SMS"),
            {
                "fields": [
                    "sms_provider",
                    "sms_api_url",
                    "api_key",
                    "api_key_set",
                    "sms_sender",
                    "sms_rate_per_minute",
                    "sms_part_price",
                ]
            },
        ),
        (_("Email"), {"fields": ["email_from", "email_from_name", "email_rate_per_minute"]}),
        (_("Greetings"), {"fields": ["greeting_hour"]}),
        (
            _("Delivery receipts"),
            {"fields": ["receipt_url", "receipt_secret_shown", "rejected_receipts"]},
        ),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # one per merchant, created on first visit

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        staff = request_staff(request)
        if staff is not None and self.has_view_permission(request):
            row = services.settings_for(staff.merchant_id)
            return HttpResponseRedirect(reverse("admin:marketing_channelsettings_change", args=[row.pk]))
        return super().changelist_view(request, extra_context)

    @display(description=_("API key"))
    def api_key_set(self, obj: ChannelSettings) -> str:
        return str(_("Set")) if obj.sms_api_key else str(_("Not set"))

    @display(description=_("receipt address"))
    def receipt_url(self, obj: ChannelSettings) -> str:
        return services.public_url(reverse("messaging_hooks:receipts", args=[obj.receipt_token]))

    @display(description=_("receipt signing secret"))
    def receipt_secret_shown(self, obj: ChannelSettings) -> str:
        return obj.receipt_secret

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        # The provider needs the secret to sign; only those who may change the settings see it.
        if request.user.has_perm("marketing.change_channelsettings"):
            return self.fieldsets
        return [
            (title, {"fields": [f for f in options["fields"] if f != "receipt_secret_shown"]})
            for title, options in self.fieldsets or []
        ]

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        try:
            services.save_channel_settings(
                channel_settings=obj, actor=request.user, api_key=form.cleaned_data.get("api_key") or None
            )
        except DomainError as exc:
            messages.error(request, str(exc))

    def has_rotate_secret_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return bool(request.user.has_perm("marketing.change_channelsettings"))

    @action(description=_("New receipt secret"), url_path="rotate", permissions=["rotate_secret"], icon="key")
    def rotate_secret(self, request: HttpRequest, object_id: str) -> HttpResponse:
        row = self.get_queryset(request).filter(pk=pk).first() if (pk := parse_id(object_id)) else None
        if row is None:
            raise Http404
        change_url = reverse("admin:marketing_channelsettings_change", args=[row.pk])
        if request.method == "POST":
            services.rotate_receipt_secret(channel_settings=row, actor=request.user)
            messages.success(request, _("A new receipt secret is in use; give it to your SMS provider."))
            return HttpResponseRedirect(change_url)
        return _confirm(
            self,
            request,
            title=_("New receipt secret"),
            intro=_("Receipts signed with the old secret are refused from now on."),
            submit=_("Make a new secret"),
            back=change_url,
        )


def _confirm(
    model_admin: Any,
    request: HttpRequest,
    *,
    title: Any,
    intro: Any,
    submit: Any,
    back: str,
    danger: bool = False,
) -> TemplateResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "intro": intro,
        "submit": submit,
        "back": back,
        "danger": danger,
    }
    return TemplateResponse(request, "marketing/admin/confirm.html", context)


# --- templates -------------------------------------------------------------------------------------------


#: The template's texts, each checked for unknown variables.
TEXT_FIELDS = ("subject_vi", "body_vi", "subject_zh_hans", "body_zh_hans", "subject_en", "body_en")


class TemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = [
            "name",
            "channel",
            "strip_diacritics",
            "subject_vi",
            "body_vi",
            "subject_zh_hans",
            "body_zh_hans",
            "subject_en",
            "body_en",
        ]

    merchant_id: int | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        name = " ".join((data.get("name") or "").split())
        if self.merchant_id is not None and name:
            clash = (
                MessageTemplate.objects.of(self.merchant_id).filter(name=name).exclude(pk=self.instance.pk)
            )
            if clash.exists():
                self.add_error("name", _("There is already a template “%(name)s”.") % {"name": name})
        candidate = MessageTemplate(**{k: data.get(k) or "" for k in ("channel", *TEXT_FIELDS)})
        for name in TEXT_FIELDS:
            try:
                rendering.check_variables(data.get(name) or "")
            except DomainError as exc:
                self.add_error(name, str(exc))
        if not self.errors:
            try:
                services.check_template(candidate)
            except DomainError as exc:
                raise ValidationError(str(exc)) from None
        return data


@admin.register(MessageTemplate)
class MessageTemplateAdmin(TenantHistoryAdmin):
    form = TemplateForm
    list_display = ["name", "channel", "languages", "sms_parts"]
    list_filter = ["channel"]
    search_fields = ["name"]
    readonly_fields = ["preview", "variables_help"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets: list[Any] = [
            (None, {"fields": ["name", "channel", "strip_diacritics", "variables_help"]}),
            (_("Vietnamese"), {"fields": ["subject_vi", "body_vi"]}),
            (_("Chinese"), {"fields": ["subject_zh_hans", "body_zh_hans"]}),
            (_("English"), {"fields": ["subject_en", "body_en"]}),
        ]
        if obj is not None:
            fieldsets.insert(1, (_("Preview"), {"fields": ["preview"]}))
        return fieldsets

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        form.merchant_id = obj.merchant_id if obj is not None else _merchant_id(request, obj)
        return form

    @display(description=_("languages"))
    def languages(self, obj: MessageTemplate) -> str:
        return ", ".join(
            lang for lang, s in services.LANGUAGE_FIELDS.items() if getattr(obj, f"body_{s}").strip()
        )

    @display(description=_("SMS parts"))
    def sms_parts(self, obj: MessageTemplate) -> str:
        if obj.channel != ChannelKind.SMS:
            return "—"
        return ", ".join(f"{p.language}: {p.info.parts}" for p in services.preview(obj) if p.info)

    @display(description=_("variables"))
    def variables_help(self, obj: Any = None) -> SafeString:
        return format_html(
            "<div class='text-sm'>{}</div>",
            SafeString(
                "<br>".join(
                    format_html("<code>{{{{ {} }}}}</code> — {}", name, label)
                    for name, label in rendering.VARIABLES.items()
                )
            ),
        )

    @display(description=_("preview"))
    def preview(self, obj: MessageTemplate) -> SafeString:
        if obj.pk is None:
            return SafeString("")
        return SafeString(
            render_to_string("marketing/admin/preview.html", {"previews": services.preview(obj)})
        )

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        if not change:
            obj.merchant_id = _merchant_id(request, obj)
        services.save_template(template=obj, actor=request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Messages keep a link to their template; one in use by a campaign or notice is protected.
        if obj is not None and (obj.campaigns.exists() or obj.notice_rules.exists() or obj.holidays.exists()):
            return False
        return super().has_delete_permission(request, obj)


# --- campaigns -------------------------------------------------------------------------------------------


class CampaignForm(forms.ModelForm):
    audience = forms.ChoiceField(
        label=_("audience"),
        choices=AudienceKind.choices,
        initial=AudienceKind.SEGMENT,
        widget=UnfoldAdminRadioSelectWidget,
    )
    scheduled_at = forms.SplitDateTimeField(
        label=_("send at"),
        required=False,
        widget=UnfoldAdminSplitDateTimeWidget,
        help_text=_("Empty: when launched."),
    )
    phone_list = forms.FileField(
        label=_("list of phones"),
        required=False,
        widget=UnfoldAdminFileFieldWidget,
        help_text=_("CSV or Excel (.xlsx): phones in the first column; a header line is allowed."),
    )

    class Meta:
        model = Campaign
        fields = ["name", "template", "code", "segment", "scheduled_at", "throttle_per_minute"]
        widgets = {"code": UnfoldAdminTextInputWidget}

    merchant: Merchant | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.merchant is not None:
            self.fields["segment"].queryset = Segment.objects.of(self.merchant)  # type: ignore[attr-defined]
            self.fields["template"].queryset = MessageTemplate.objects.of(self.merchant)  # type: ignore[attr-defined]
            self.fields["scheduled_at"].help_text = _(
                "Empty: when launched. In the merchant's time zone (%(zone)s)."
            ) % {"zone": self.merchant.tz}
        if self.instance.phones:
            self.fields["phone_list"].help_text = _(
                "%(file)s (%(count)s phones) is kept unless you upload another list."
            ) % {"file": self.instance.list_name, "count": len(self.instance.phones)}
        self.phones: list[str] = []

    @property
    def wants_preview(self) -> bool:
        """The "Preview" button posted the form: it is checked and shown again, not saved."""
        return "_preview" in self.data

    def is_valid(self) -> bool:
        return super().is_valid() and not self.wants_preview

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("audience") == AudienceKind.SEGMENT:
            if not data.get("segment"):
                self.add_error("segment", _("Choose a segment."))
        elif self.merchant is not None:
            upload = data.get("phone_list")
            if not upload:
                if not self.instance.phones:
                    self.add_error("phone_list", _("Upload a list of phones."))
            elif upload.size > services.MAX_LIST_FILE_BYTES:
                self.add_error(
                    "phone_list",
                    _("The file is larger than %(max)s MB.") % {"max": services.MAX_LIST_FILE_BYTES // 2**20},
                )
            else:
                try:
                    self.phones = services.read_phone_list(
                        merchant=self.merchant, name=upload.name, content=upload.read()
                    )
                except DomainError as exc:
                    self.add_error("phone_list", str(exc))
        return data

    def unsaved_campaign(self) -> Campaign:
        """The campaign as the form describes it, for the preview; never saved."""
        data = self.cleaned_data
        template: MessageTemplate = data["template"]
        segment = data.get("segment") if data["audience"] == AudienceKind.SEGMENT else None
        return Campaign(
            merchant=template.merchant,
            template=template,
            audience=data["audience"],
            segment=segment,
            phones=[] if segment is not None else (self.phones or list(self.instance.phones)),
            code=(data.get("code") or "").strip(),
        )


@admin.register(Campaign)
class CampaignAdmin(TenantHistoryAdmin):
    list_display = ["name", "template", "audience_label", "status", "scheduled_at", "progress"]
    list_filter = ["status", ("scheduled_at", LocalDateRangeFilter)]
    search_fields = ["name"]
    list_select_related = ["template", "segment"]
    actions_detail = ["launch_page", "cancel_page", "retry_page", "messages_link"]
    # The "Preview" button, inside the form so it posts the unsaved form; once pressed, the preview
    # above the fields, where the page opens.
    change_form_before_template = "marketing/admin/campaign_preview_result.html"
    change_form_after_template = "marketing/admin/campaign_preview.html"
    detail_fields = [
        "name",
        "template",
        "audience_label",
        "code",
        "status",
        "scheduled_at",
        "throttle_per_minute",
        "launched_at",
        "queued_at",
        "finished_at",
        "recipients",
        "progress",
    ]

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in ("template", "segment") and isinstance(field.widget, RelatedFieldWidgetWrapper):
            field.widget.template_name = "marketing/admin/related_add_visible.html"
        return field

    @staticmethod
    def _editable(obj: Any) -> bool:
        return obj is None or obj.status == CampaignStatus.DRAFT

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if self._editable(obj):
            staff = request_staff(request)
            merchant = staff.merchant if staff is not None else None
            kwargs["form"] = type("ScopedCampaignForm", (CampaignForm,), {"merchant": merchant})
        # Through the admin, so the template and segment get the "add another" popup link.
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if self._editable(obj):
            fieldsets: list[Any] = [
                (None, {"fields": ["name", "template", "code"]}),
                (_("Audience"), {"fields": ["audience", "segment", "phone_list"]}),
                (_("Sending"), {"fields": ["scheduled_at", "throttle_per_minute"]}),
            ]
            if obj is not None:
                fieldsets.append((_("Status"), {"fields": ["status", "recipients"]}))
            return fieldsets
        return [(None, {"fields": self.detail_fields})]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        return ["status", "recipients"] if self._editable(obj) else self.detail_fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A draft can be edited; once launched the page is read-only and changes through cancel and retry.
        if not self._editable(obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status != CampaignStatus.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> Any:
        form = context["adminform"].form
        may_edit = (
            self.has_change_permission(request, obj) if obj is not None else self.has_add_permission(request)
        )
        context["campaign_previewable"] = isinstance(form, CampaignForm) and may_edit
        if isinstance(form, CampaignForm) and form.wants_preview and form.is_bound and not form.errors:
            try:
                context["campaign_preview"] = services.preview_campaign(campaign=form.unsaved_campaign())
            except DomainError as exc:
                form.add_error(None, str(exc))
        return super().render_change_form(request, context, add, change, form_url, obj)

    @display(description=_("audience"))
    def audience_label(self, obj: Campaign) -> str:
        if obj.audience == AudienceKind.SEGMENT:
            return str(_("Segment: %(name)s") % {"name": obj.segment})
        return str(_("List %(file)s (%(count)s phones)") % {"file": obj.list_name, "count": len(obj.phones)})

    @display(description=_("recipients"))
    def recipients(self, obj: Campaign) -> str:
        if obj.audience_size is not None:
            return str(obj.audience_size)
        total, consenting = selectors.audience_counts(obj)
        return str(
            _("%(total)s members, %(consenting)s of whom accept marketing on this channel")
            % {"total": total, "consenting": consenting}
        )

    @display(description=_("progress"))
    def progress(self, obj: Campaign) -> str:
        counts = selectors.progress(obj)
        shown = ", ".join(f"{MessageStatus(s).label}: {n}" for s, n in sorted(counts.items()))
        queueing = selectors.queueing_progress(obj)
        if queueing is not None:
            done, total = queueing
            preparing = _("Preparing the messages: %(done)s of %(total)s") % {
                "done": format_quantity(done),
                "total": format_quantity(total),
            }
            return f"{preparing}. {shown}" if shown else str(preparing)
        return shown or "—"

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        assert isinstance(form, CampaignForm)
        staff = request_staff(request)
        merchant = staff.merchant if staff is not None else form.cleaned_data["template"].merchant
        data = form.cleaned_data
        segment = data.get("segment") if data["audience"] == AudienceKind.SEGMENT else None
        upload = data.get("phone_list")
        fields: dict[str, Any] = {
            "name": data["name"],
            "template": data["template"],
            "segment": segment,
            "scheduled_at": data.get("scheduled_at"),
            "throttle_per_minute": data.get("throttle_per_minute") or 0,
            "code": data.get("code") or "",
            "actor": request.user,
        }
        if segment is None and upload is not None:
            fields.update(phones=form.phones, list_name=upload.name)
        if change:
            services.update_campaign(campaign=obj, **fields)
        else:
            _adopt(obj, services.create_campaign(merchant=merchant, **fields))

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Nothing related: the service saved the campaign."""

    def _campaign(self, request: HttpRequest, object_id: str) -> Campaign:
        campaign = self.get_queryset(request).filter(pk=pk).first() if (pk := parse_id(object_id)) else None
        if campaign is None:
            raise Http404
        return campaign

    def has_send_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return bool(request.user.has_perm("marketing.send_campaign"))

    def _perform(
        self, request: HttpRequest, object_id: str, *, perform: Any, success: Any, **texts: Any
    ) -> HttpResponse:
        campaign = self._campaign(request, object_id)
        change_url = reverse("admin:marketing_campaign_change", args=[campaign.pk])
        if request.method == "POST":
            try:
                result = perform(campaign)
            except DomainError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, success % {"name": campaign.name, "count": result})
            return HttpResponseRedirect(change_url)
        return _confirm(self, request, back=change_url, **texts)

    @action(description=_("Launch"), url_path="launch", permissions=["send"], icon="send")
    def launch_page(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._perform(
            request,
            object_id,
            perform=lambda c: services.launch_campaign(campaign=c, actor=request.user),
            success=_("Campaign “%(name)s” launched."),
            title=_("Launch the campaign"),
            intro=_(
                "Members who accept marketing on this channel get the message, at its scheduled time or "
                "now; the others are listed as skipped."
            ),
            submit=_("Launch"),
        )

    @action(description=_("Cancel"), url_path="cancel", permissions=["send"], icon="cancel")
    def cancel_page(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._perform(
            request,
            object_id,
            perform=lambda c: services.cancel_campaign(campaign=c, actor=request.user),
            success=_("Campaign “%(name)s” cancelled."),
            title=_("Cancel the campaign"),
            intro=_("Messages not yet sent are cancelled; those already sent stay sent."),
            submit=_("Cancel the campaign"),
            danger=True,
        )

    @action(description=_("Retry failed"), url_path="retry", permissions=["send"], icon="replay")
    def retry_page(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._perform(
            request,
            object_id,
            perform=lambda c: services.retry_failed(campaign=c, actor=request.user),
            success=_("%(count)s failed message(s) of “%(name)s” queued again."),
            title=_("Retry the failed messages"),
            intro=_("Each failed message is sent again, at the channel's rate."),
            submit=_("Retry failed"),
        )

    @action(description=_("Recipients"), url_path="recipients", icon="list")
    def messages_link(self, request: HttpRequest, object_id: str) -> HttpResponse:
        campaign = self._campaign(request, object_id)
        return HttpResponseRedirect(
            reverse("admin:marketing_message_changelist") + f"?campaign__id__exact={campaign.pk}"
        )


# --- messages --------------------------------------------------------------------------------------------


@admin.register(Message)
class MessageAdmin(ReadOnlyAdminMixin, TenantAdmin):
    list_display = [
        "created_at",
        "channel",
        "to",
        "member",
        "status",
        "trigger",
        "campaign",
        "sent_at",
        "error",
    ]
    # Only campaigns the (scoped) list shows: a plain related filter would list every merchant's.
    list_filter = [
        "status",
        "channel",
        "trigger",
        ("campaign", admin.RelatedOnlyFieldListFilter),
        ("created_at", LocalDateRangeFilter),
    ]
    search_fields = ["to", "provider_message_id", "member__search_text"]
    list_select_related = ["member", "campaign"]
    actions = ["retry_selected"]
    show_full_result_count = False
    fields = [
        "created_at",
        "channel",
        "to",
        "member",
        "language",
        "subject",
        "body",
        "parts",
        "is_marketing",
        "status",
        "error",
        "attempts",
        "provider_message_id",
        "trigger",
        "trigger_ref",
        "campaign",
        "template",
        "sent_at",
        "delivered_at",
        "failed_at",
    ]
    readonly_fields = fields

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("marketing.change_message"))

    @action(description=_("Send the selected failed messages again"), permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        count = 0
        for message in queryset.filter(status=MessageStatus.FAILED):
            services.retry_message(message=message, actor=request.user)
            count += 1
        if count:
            from tessera.marketing.tasks import drain_task

            drain_task(_merchant_id(request, queryset.first()))
        self.message_user(
            request, _("%(count)s message(s) queued again.") % {"count": count}, messages.SUCCESS
        )


# --- automatic notices and holidays ----------------------------------------------------------------------


@admin.register(NoticeRule)
class NoticeRuleAdmin(TenantHistoryAdmin):
    list_display = ["kind", "template", "channel", "is_active"]
    list_filter = ["kind", "is_active"]
    fields = ["kind", "template", "is_active"]
    list_select_related = ["template"]

    @display(description=_("channel"))
    def channel(self, obj: NoticeRule) -> str:
        return str(obj.template.get_channel_display())

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        if not change:
            obj.merchant_id = _merchant_id(request, obj)
        try:
            services.save_notice_rule(rule=obj, actor=request.user)
        except DomainError as exc:
            messages.error(request, str(exc))


class HolidayForm(forms.ModelForm):
    class Meta:
        model = Holiday
        fields = ["name", "calendar", "month", "day", "leap_month", "template", "is_active"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            try:
                services.check_holiday(
                    Holiday(**{k: data.get(k) for k in ("calendar", "month", "day", "leap_month")})
                )
            except DomainError as exc:
                raise ValidationError(str(exc)) from None
        return data


@admin.register(Holiday)
class HolidayAdmin(TenantHistoryAdmin):
    form = HolidayForm
    list_display = ["name", "calendar", "month", "day", "leap_month", "next_date", "template", "is_active"]
    list_filter = ["calendar", "is_active"]
    list_select_related = ["template", "merchant"]

    @display(description=_("next date"))
    def next_date(self, obj: Holiday) -> str:
        day = selectors.next_occurrence(obj)
        return day.isoformat() if day else "—"

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        if not change:
            obj.merchant_id = _merchant_id(request, obj)
        try:
            services.save_holiday(holiday=obj, actor=request.user)
        except DomainError as exc:
            messages.error(request, str(exc))
