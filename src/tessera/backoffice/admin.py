"""Back office for members, segments and tags (C1–C3, C5, C6). Every write goes through the members'
services.

The pages of the members app's models are served from here, the top layer, because they read apps above
`members`: the member list filters by segment (`tessera.ledger.segments`) and exports balances (the
ledger) and the ranking spend (the tiers). Their URLs and permissions are the models' own:
`admin:members_member_changelist`, `members.export_member`."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.db.models import (
    BigIntegerField,
    CharField,
    Count,
    ExpressionWrapper,
    F,
    OuterRef,
    QuerySet,
    Subquery,
)
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.decorators import action, display

from tessera.backoffice.views import till_after_registration
from tessera.cards.models import Card, CardStatus
from tessera.core.errors import DomainError
from tessera.core.exports import Column
from tessera.core.formatting import format_points
from tessera.core.limits import parse_id
from tessera.ledger.models import Account, AccountKind
from tessera.ledger.segments import members_in_segment
from tessera.ledger.selectors import with_live_balances
from tessera.members import services
from tessera.members.forms import (
    MONTHS,
    ChangePhoneForm,
    ConfirmForm,
    MemberForm,
    ReasonForm,
    SegmentForm,
    SetPinForm,
    TagForm,
)
from tessera.members.models import Anniversary, Member, MemberStatus, Segment, Tag
from tessera.members.schemas import SegmentFilters
from tessera.members.selectors import search_q
from tessera.tenancy.admin_base import ExportAdminMixin, TenantAdmin, TenantHistoryAdmin, request_staff
from tessera.tiers.selectors import ranking_spends

# --- list filters, each scoped to what the user may see -------------------------------------------------


class RegionFilter(admin.SimpleListFilter):
    title = _("region")
    parameter_name = "region"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        regions = (
            # order_by(): the default ordering would make DISTINCT run over (region, created_at), every row.
            model_admin.get_queryset(request)
            .exclude(region="")
            .order_by()
            .values_list("region", flat=True)
            .distinct()
        )
        return [(r, r) for r in sorted(set(regions))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Member]) -> QuerySet[Member]:
        return queryset.filter(region=self.value()) if self.value() else queryset


class BirthdayMonthFilter(admin.SimpleListFilter):
    title = _("birthday month")
    parameter_name = "birthday_month"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(str(number), name) for number, name in MONTHS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Member]) -> QuerySet[Member]:
        month = parse_id(self.value())
        return queryset.filter(birthday__month=month) if month else queryset


class SegmentListFilter(admin.SimpleListFilter):
    """Members of a saved segment (C6); the segments admin links here."""

    title = _("segment")
    parameter_name = "segment"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(s.pk), s.name) for s in _scoped_segments(request)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Member]) -> QuerySet[Member]:
        segment_id = parse_id(self.value())
        if segment_id is None:
            return queryset
        segment = _scoped_segments(request).filter(pk=segment_id).select_related("merchant").first()
        if segment is None:
            return queryset.none()
        matching = members_in_segment(
            merchant=segment.merchant, filters=SegmentFilters.model_validate(segment.filters)
        )
        return queryset.filter(pk__in=matching.values("pk"))


def _scoped_segments(request: HttpRequest) -> QuerySet[Segment]:
    if request.user.is_superuser:
        return Segment.objects.all()
    return Segment.objects.visible_to(request_staff(request))


#: Members read per query in an export, and ranked per aggregate.
EXPORT_CHUNK = 2000


def member_export_values(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """The members with their points and stored-value balances, each a correlated subquery: a million
    members take one query and no per-row lookups. Balances are as of now, like every balance shown:
    units in lots past their expiry are not counted, swept or not (issue 12)."""

    def balance(kind: str) -> Subquery:
        accounts = with_live_balances(Account.objects.filter(member_id=OuterRef("pk"), kind=kind))
        return Subquery(
            accounts.annotate(live=F("balance") - F("lapsed_units")).values("live")[:1],
            output_field=BigIntegerField(),
        )

    return queryset.annotate(
        points_balance=balance(AccountKind.POINTS), stored_value_balance=balance(AccountKind.STORED_VALUE)
    )


def member_list_values(queryset: QuerySet[Any], *, cards: QuerySet[Card]) -> QuerySet[Any]:
    """The member list's extra columns in the list's own statement: the live points balance, the tier
    (a join) and the newest active main card among `cards` (those the user may see, B2)."""
    accounts = with_live_balances(Account.objects.filter(member_id=OuterRef("pk"), kind=AccountKind.POINTS))
    card = cards.filter(member_id=OuterRef("pk"), status=CardStatus.ACTIVE, parent__isnull=True)
    return queryset.annotate(
        list_points=Subquery(
            accounts.annotate(live=F("balance") - F("lapsed_units")).values("live")[:1],
            output_field=BigIntegerField(),
        ),
        list_tier=F("tier_state__tier__name"),
        list_card=Subquery(card.order_by("-created_at", "-pk").values("number")[:1]),
    )


# --- members ------------------------------------------------------------------------------------------


class AnniversaryInline(TabularInline):
    model = Anniversary
    fields = ["label", "date"]
    extra = 0
    tab = True


class MemberAdmin(ExportAdminMixin, TenantHistoryAdmin):
    form = MemberForm
    change_form_before_template = "backoffice/members/member_header.html"
    list_display = [
        "display_name",
        "phone",
        "display_status",
        "display_points",
        "display_tier",
        "display_card",
        "home_store",
        "created_at",
        "edit_link",
    ]
    # The name opens the member 360 page (`display_name`); the form is one click away (`edit_link`).
    list_display_links = None
    list_filter = [
        "status",
        ("home_store", RelatedOnlyFieldListFilter),
        RegionFilter,
        "gender",
        ("tags", RelatedOnlyFieldListFilter),
        BirthdayMonthFilter,
        SegmentListFilter,
    ]
    list_select_related = ["home_store"]
    # The search box is driven by `get_search_results`; this only makes it appear.
    search_fields = ["search_text"]
    search_help_text = _("Name (with or without accents), phone or email.")
    inlines = [AnniversaryInline]
    actions = ["activate_selected"]
    actions_detail = [
        "activate_page",
        "exclude_page",
        "reactivate_page",
        "set_pin_page",
        "change_phone_page",
        "erase_page",
    ]
    readonly_fields = [
        "phone",
        "display_status",
        "status_reason",
        "status_changed_at",
        "superseded_by",
        "erased_at",
        "referral_code",
        "referred_by",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Member | None = None) -> Any:
        fieldsets: list[tuple[Any, dict[str, Any]]] = [
            (None, {"fields": ["phone", "full_name", "email", "home_store", "tags"]}),
            (_("Preferences and notes"), {"fields": ["preferences", "notes", "hobbies"]}),
            (
                _("Profile"),
                {"fields": ["birthday", "gender", "address", "region", "occupation", "id_number"]},
            ),
            (_("Marketing"), {"fields": ["marketing_sms", "marketing_email"]}),
        ]
        if request.user.is_superuser and obj is None:
            fieldsets[0][1]["fields"].insert(0, "merchant")
        if obj is None:
            fieldsets[0][1]["fields"].append("referred_by_code")
        if obj is not None:
            fieldsets.append(
                (
                    _("Membership"),
                    {
                        "fields": [
                            "display_status",
                            "status_reason",
                            "status_changed_at",
                            "superseded_by",
                            "erased_at",
                            ("referral_code", "referred_by"),
                            ("created_at", "created_by"),
                            ("updated_at", "updated_by"),
                        ]
                    },
                )
            )
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Member | None = None) -> Any:
        return self.readonly_fields if obj is not None else []

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        staff = request_staff(request)
        form.merchant_id = staff.merchant_id if staff else None
        if obj is not None:
            form.base_fields.pop("phone", None)
            form.base_fields.pop("referred_by_code", None)
        return form

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("superseded_by")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        # The same matching as `search_members`: "nguyen van an" finds "Nguyễn Văn An".
        return queryset.filter(search_q(search_term)), False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Replaced and erased accounts are kept as records; nobody edits them (C3, C5).
        if obj is not None and not obj.is_current:
            return False
        return super().has_change_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> Any:
        found = super().get_actions(request)
        found.pop("delete_selected", None)  # members are erased one by one, never deleted (C5)
        return found

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> Any:
        base = super().get_changelist(request, **kwargs)
        staff = request_staff(request)
        cards = Card.objects.visible_to(staff) if staff is not None else Card.objects.all()

        class MemberChangeList(base):  # type: ignore[valid-type,misc]
            def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Any]:
                return member_list_values(super().get_queryset(request, exclude_parameters), cards=cards)

        return MemberChangeList

    @display(description=_("name"), ordering="full_name")
    def display_name(self, obj: Member) -> str:
        url = reverse("backoffice:member_360", args=[obj.pk])
        return format_html('<a class="text-primary-600" data-member-360 href="{}">{}</a>', url, obj)

    @display(description=_("points"), ordering="list_points")
    def display_points(self, obj: Any) -> str:
        return format_points(obj.list_points or 0)

    @display(description=_("tier"), ordering="list_tier", empty_value="—")
    def display_tier(self, obj: Any) -> str | None:
        return obj.list_tier

    @display(description=_("card"), empty_value="—")
    def display_card(self, obj: Any) -> str | None:
        return obj.list_card

    @display(description="")
    def edit_link(self, obj: Member) -> str:
        if not obj.is_current:
            return ""
        url = reverse("admin:members_member_change", args=[obj.pk])
        return format_html('<a class="underline" data-edit href="{}">{}</a>', url, _("Edit"))

    @display(
        description=_("status"),
        ordering="status",
        label={
            MemberStatus.ACTIVE: "success",
            MemberStatus.NOT_ACTIVATED: "warning",
            MemberStatus.EXCLUDED: "danger",
            "replaced": "info",
            "erased": "danger",
        },
    )
    def display_status(self, obj: Member) -> tuple[str, str]:
        if obj.erased_at is not None:
            return "erased", str(_("Erased"))
        if obj.superseded_by_id is not None:
            return "replaced", str(_("Replaced after a phone change"))
        return obj.status, str(obj.get_status_display())

    # Export (C4): the filtered list with balances, tier and ranking spend, computed in SQL per row.

    export_permission = "members.export_member"

    def export_columns(self, request: HttpRequest) -> list[Column]:
        return [
            Column(str(_("phone"))),
            Column(str(_("name"))),
            Column(str(_("status"))),
            Column(str(_("tier"))),
            Column(str(_("points balance")), "points"),
            Column(str(_("stored value balance")), "money"),
            Column(str(_("ranking spend")), "money"),
            Column(str(_("birthday")), "date"),
            Column(str(_("region"))),
            Column(str(_("occupation"))),
            Column(str(_("home store"))),
            Column(str(_("created at")), "datetime"),
            Column(str(_("accepts marketing SMS"))),
            Column(str(_("accepts marketing email"))),
        ]

    def export_rows(self, request: HttpRequest, queryset: QuerySet[Any]) -> Iterator[list[Any]]:
        statuses = {value: str(label) for value, label in MemberStatus.choices}
        erased, replaced = str(_("Erased")), str(_("Replaced after a phone change"))
        merchant = self._export_merchant(request, queryset)
        assert merchant is not None  # the export view refuses lists that span merchants
        now = timezone.now()
        # The phone as its stored text: the field stores a valid number in E.164 (what the export shows)
        # and an invalid one as typed (what it prints), so the text is what `str(member.phone)` gives,
        # without parsing and validating each number again (a quarter of the export's time; issue 16).
        values = (
            member_export_values(queryset)
            .annotate(phone_text=ExpressionWrapper(F("phone"), output_field=CharField()))
            .values_list(
                "pk",
                "phone_text",
                "full_name",
                "status",
                "erased_at",
                "superseded_by_id",
                "tier_state__tier__name",
                "points_balance",
                "stored_value_balance",
                "birthday",
                "region",
                "occupation",
                "home_store__name",
                "created_at",
                "marketing_sms",
                "marketing_email",
            )
        )
        rows = values.iterator(chunk_size=EXPORT_CHUNK)
        while chunk := list(islice(rows, EXPORT_CHUNK)):
            # The tiers app's own definition of ranking spend, one aggregate per chunk of members.
            spends = ranking_spends(merchant=merchant, member_ids=[row[0] for row in chunk], now=now)
            for pk, phone, name, status, erased_at, superseded, tier, points, stored_value, *profile in chunk:
                shown = erased if erased_at else replaced if superseded else statuses.get(status, status)
                yield [
                    phone or "",
                    name,
                    shown,
                    tier,
                    points or 0,
                    stored_value or 0,
                    spends.get(pk, 0),
                    *profile,
                ]

    # Writes: add and change through the services, never `obj.save()`.

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        profile = form.profile()  # type: ignore[attr-defined]
        if change:
            services.update_member_profile(member=obj, actor=request.user, **profile)
            return
        staff = request_staff(request)
        merchant = staff.merchant if staff else form.cleaned_data["merchant"]
        member = services.register_member(
            merchant=merchant,
            phone=form.cleaned_data["phone"],
            actor=request.user,
            referral_code=form.cleaned_data.get("referred_by_code") or "",
            **profile,
        )
        obj.pk = member.pk
        obj._state.adding = False
        services._copy_state(obj, member)

    def response_add(
        self, request: HttpRequest, obj: Any, post_url_continue: str | None = None
    ) -> HttpResponse:
        back_to_till = till_after_registration(request, obj)
        if back_to_till is not None:
            messages.success(request, _("%(member)s is registered.") % {"member": obj})
            return back_to_till
        return super().response_add(request, obj, post_url_continue)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Tags were set by the service in save_model; only the anniversaries are left.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        for anniversary in formset.save(commit=False):
            anniversary.member = form.instance
            services.save_anniversary(anniversary=anniversary, actor=request.user)
        for anniversary in formset.deleted_objects:
            services.delete_anniversary(anniversary=anniversary, actor=request.user)

    # The old-version pages of simple-history: scoped, and read-only (a revert would skip the services).

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        """Deleting a member means erasing their personal data (C5): the erase page."""
        member = self._member(request, object_id)
        return HttpResponseRedirect(reverse("admin:members_member_erase_page", args=[member.pk]))

    # Status, phone and erasure: one page each, asking what it needs, then calling the service.

    def _member(self, request: HttpRequest, object_id: Any) -> Member:
        member = self.get_queryset(request).filter(pk=pk).first() if (pk := parse_id(object_id)) else None
        if member is None:
            raise Http404
        return member

    def _allowed(self, request: HttpRequest, permission: str, object_id: Any, *statuses: str) -> bool:
        if not request.user.has_perm(permission):
            return False
        if object_id is None:
            return True
        member = self._member(request, object_id)
        return member.is_current and (not statuses or member.status in statuses)

    def has_activate_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._allowed(request, "members.activate_member", object_id, MemberStatus.NOT_ACTIVATED)

    def has_exclude_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._allowed(
            request, "members.exclude_member", object_id, MemberStatus.ACTIVE, MemberStatus.NOT_ACTIVATED
        )

    def has_reactivate_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._allowed(request, "members.reactivate_member", object_id, MemberStatus.EXCLUDED)

    def has_set_pin_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._allowed(request, "members.change_member", object_id)

    def has_change_phone_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._allowed(request, "members.change_member_phone", object_id)

    def has_erase_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        if not request.user.has_perm("members.delete_member"):
            return False
        return object_id is None or self._member(request, object_id).erased_at is None

    def _action_page(
        self,
        request: HttpRequest,
        object_id: str,
        *,
        form_class: type[forms.Form],
        title: Any,
        intro: Any,
        submit: Any,
        perform: Any,
        success: Any,
        danger: bool = False,
    ) -> HttpResponse:
        member = self._member(request, object_id)
        change_url = reverse("admin:members_member_change", args=[member.pk])
        form = form_class(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                result = perform(member, form.cleaned_data)
            except DomainError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, success % {"member": result})
                return HttpResponseRedirect(reverse("admin:members_member_change", args=[result.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": member,
            "title": title,
            "intro": intro,
            "submit": submit,
            "form": form,
            "danger": danger,
            "change_url": change_url,
        }
        return TemplateResponse(request, "backoffice/members/member_action.html", context)

    @action(description=_("Activate"), url_path="activate", permissions=["activate"], icon="check_circle")
    def activate_page(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._action_page(
            request,
            object_id,
            form_class=ConfirmForm,
            title=_("Activate member"),
            intro=_("The member will earn and spend points from now on."),
            submit=_("Activate"),
            perform=lambda m, _data: services.activate_member(member=m, actor=request.user),
            success=_("%(member)s is now active."),
        )

    @action(description=_("Exclude"), url_path="exclude", permissions=["exclude"], icon="block")
    def exclude_page(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._action_page(
            request,
            object_id,
            form_class=ReasonForm,
            title=_("Exclude member"),
            intro=_(
                "An excluded member cannot earn, spend or use tier perks and sees no loyalty information "
                "until re-activated."
            ),
            submit=_("Exclude"),
            perform=lambda m, data: services.exclude_member(
                member=m, reason=data["reason"], actor=request.user
            ),
            success=_("%(member)s is now excluded."),
            danger=True,
        )

    @action(
        description=_("Re-activate"), url_path="reactivate", permissions=["reactivate"], icon="restart_alt"
    )
    def reactivate_page(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._action_page(
            request,
            object_id,
            form_class=ConfirmForm,
            title=_("Re-activate member"),
            intro=_("The member will earn and spend points again."),
            submit=_("Re-activate"),
            perform=lambda m, _data: services.reactivate_member(member=m, actor=request.user),
            success=_("%(member)s is active again."),
        )

    @action(description=_("Set PIN"), url_path="set-pin", permissions=["set_pin"], icon="pin")
    def set_pin_page(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._action_page(
            request,
            object_id,
            form_class=SetPinForm,
            title=_("Set the member's PIN"),
            intro=_("Let the member type the PIN. Sales confirmed by PIN will need it."),
            submit=_("Save the PIN"),
            perform=lambda m, data: services.set_member_pin(member=m, pin=data["pin"], actor=request.user),
            success=_("The PIN of %(member)s is set."),
        )

    @action(description=_("Change phone"), url_path="change-phone", permissions=["change_phone"], icon="call")
    def change_phone_page(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._action_page(
            request,
            object_id,
            form_class=ChangePhoneForm,
            title=_("Change phone"),
            intro=_("The loyalty account is bound to the phone number."),
            submit=_("Open the new account"),
            perform=lambda m, data: services.change_phone(
                member=m, new_phone=data["new_phone"], actor=request.user
            ),
            success=_("A new account was opened for %(member)s; the old one is kept."),
        )

    @action(description=_("Erase"), url_path="erase", permissions=["erase"], icon="delete_forever")
    def erase_page(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._action_page(
            request,
            object_id,
            form_class=ConfirmForm,
            title=_("Erase member"),
            intro=_(
                "Name, phone, email, address, birthday, ID number, notes, preferences, anniversaries and "
                "tags are removed for good, also from the change history. Points history is kept, "
                "anonymous, so the accounts still add up. This cannot be undone."
            ),
            submit=_("Erase personal data"),
            perform=lambda m, _data: services.erase_member(member=m, actor=request.user),
            success=_("The personal data of %(member)s was erased."),
            danger=True,
        )

    @admin.action(description=_("Activate selected members"), permissions=["activate"])
    def activate_selected(self, request: HttpRequest, queryset: QuerySet[Member]) -> None:
        done, refused = 0, 0
        for member in queryset.filter(status=MemberStatus.NOT_ACTIVATED):
            try:
                services.activate_member(member=member, actor=request.user)
                done += 1
            except DomainError:
                refused += 1
        messages.success(request, _("%(count)d members activated.") % {"count": done})
        if refused:
            messages.warning(request, _("%(count)d members could not be activated.") % {"count": refused})


admin.site.register(Member, MemberAdmin)


# --- segments and tags --------------------------------------------------------------------------------


@admin.register(Segment)
class SegmentAdmin(TenantHistoryAdmin):
    form = SegmentForm
    list_display = ["name", "description", "matching_members"]
    search_fields = ["name"]
    readonly_fields = ["matching_members"]

    def get_fieldsets(self, request: HttpRequest, obj: Segment | None = None) -> Any:
        head = (
            ["merchant", "name", "description"]
            if request.user.is_superuser and obj is None
            else [
                "name",
                "description",
            ]
        )
        if obj is not None:
            head.append("matching_members")
        return [
            (None, {"fields": head}),
            (
                _("Who"),
                {"fields": ["status", "gender", ("min_age", "max_age"), "birthday_month", "occupation"]},
            ),
            (_("Where"), {"fields": ["home_stores", "region", "tags"]}),
            (
                _("Activity"),
                {
                    "fields": [
                        ("joined_from", "joined_to"),
                        ("min_points", "max_points"),
                        ("last_visit_after", "last_visit_before"),
                    ]
                },
            ),
        ]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        staff = request_staff(request)
        form.merchant_id = staff.merchant_id if staff else None
        return form

    @display(description=_("matching members"))
    def matching_members(self, obj: Segment) -> str:
        if obj.pk is None:
            return "—"
        count = members_in_segment(
            merchant=obj.merchant, filters=SegmentFilters.model_validate(obj.filters)
        ).count()
        url = reverse("admin:members_member_changelist") + f"?segment={obj.pk}"
        return format_html('<a class="text-primary-600 underline" href="{}">{}</a>', url, count)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        staff = request_staff(request)
        merchant = staff.merchant_id if staff else (obj.merchant_id or form.cleaned_data["merchant"].pk)
        saved = services.save_segment(
            merchant=merchant,
            name=form.cleaned_data["name"],
            description=form.cleaned_data.get("description", ""),
            filters=form.filters(),
            segment=obj if change else None,
            actor=request.user,
        )
        obj.pk = saved.pk
        obj._state.adding = False


@admin.register(Tag)
class TagAdmin(TenantAdmin):
    form = TagForm
    list_display = ["name", "member_count"]
    search_fields = ["name"]
    fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).annotate(member_total=Count("members"))

    @display(description=_("members"), ordering="member_total")
    def member_count(self, obj: Any) -> int:
        return int(obj.member_total)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        staff = request_staff(request)
        form.merchant_id = staff.merchant_id if staff else None
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        staff = request_staff(request)
        merchant = staff.merchant_id if staff else obj.merchant_id
        saved = services.save_tag(
            merchant=merchant, name=obj.name, tag=obj if change else None, actor=request.user
        )
        obj.pk = saved.pk
        obj._state.adding = False
