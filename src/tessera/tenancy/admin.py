"""The organisation pages of the back office: merchants, stores, staff, roles, API keys (A1, B1, B2).

Each page reads through the merchant (and store) scope of `TenantAdmin` and writes through
`tenancy.services`; the forms offer only the user's own merchant's roles and stores.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group, User
from django.db.models import Exists, Model, OuterRef, QuerySet
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice
from unfold.admin import ModelAdmin
from unfold.decorators import action, display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from tessera.core.errors import DomainError
from tessera.tenancy import services, two_factor
from tessera.tenancy.admin_base import TenantAdmin, TenantHistoryAdmin, request_staff
from tessera.tenancy.forms import ApiKeyForm, RoleForm, StaffForm, StoreForm
from tessera.tenancy.models import ApiKey, Merchant, Role, Scope, StaffMembership, Store
from tessera.tenancy.selectors import merchants_visible_to, roles_of_user, staff_visible_to


def _with_request(form: type[ModelForm[Any]], request: HttpRequest) -> type[ModelForm[Any]]:
    return type(form.__name__, (form,), {"request": request})


def _adopt(obj: Model, saved: Model) -> None:
    """Make the admin's unsaved form instance the row a service created, for the redirect and log."""
    obj.__dict__.update({k: v for k, v in saved.__dict__.items() if k != "_state"})
    obj._state.adding = False
    obj._state.db = saved._state.db


def _changed(obj: Model, form: ModelForm[Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in names if name in form.changed_data}


@admin.register(Merchant)
class MerchantAdmin(TenantHistoryAdmin):
    """Operators manage every merchant; a merchant admin sees and edits only its own settings (A1)."""

    list_display = ["name", "slug", "currency", "time_zone", "default_language", "is_active"]
    search_fields = ["name", "slug"]
    staff_fields = services.MERCHANT_SETTINGS

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return merchants_visible_to(request.user)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if self.is_operator(request):
            return ["name", "slug", "is_active", *services.MERCHANT_SETTINGS[1:]]
        return list(self.staff_fields)

    def get_list_filter(self, request: HttpRequest) -> Any:
        return ["is_active", "currency"] if self.is_operator(request) else []

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.is_operator(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a merchant is deactivated, never deleted: its history must stay

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        fields = self.get_fields(request, obj)
        if change:
            services.update_merchant(merchant=obj, actor=request.user, **_changed(obj, form, tuple(fields)))
            return
        values = {n: getattr(obj, n) for n in fields if n not in ("name", "slug")}
        created = services.create_merchant(name=obj.name, slug=obj.slug, actor=request.user, **values)
        _adopt(obj, created)


@admin.register(Store)
class StoreAdmin(TenantHistoryAdmin):
    """Store-scoped staff see only their stores (B2)."""

    form = StoreForm
    list_display = ["name", "code", "merchant", "address", "is_active"]
    list_filter = ["merchant", "is_active"]
    search_fields = ["name", "code", "address"]
    editable = ("code", "name", "address", "time_zone", "is_active")

    def get_list_display(self, request: HttpRequest) -> Any:
        shown = list(super().get_list_display(request))
        return shown if self.is_operator(request) else [f for f in shown if f != "merchant"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (["merchant"] if self.is_operator(request) else []) + list(self.editable)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # transactions keep their store; a closed store is deactivated

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            services.update_store(store=obj, actor=request.user, **_changed(obj, form, self.editable))
            return
        staff = request_staff(request)
        merchant = staff.merchant if staff is not None else obj.merchant
        values = {n: getattr(obj, n) for n in ("address", "time_zone", "is_active")}
        created = services.create_store(
            merchant=merchant, code=obj.code, name=obj.name, actor=request.user, **values
        )
        _adopt(obj, created)


@admin.register(StaffMembership)
class StaffMembershipAdmin(TenantHistoryAdmin):
    """A merchant admin creates, edits and deactivates its own staff (B1, B2); never a superuser."""

    form = StaffForm
    list_display = ["username", "full_name", "merchant", "role_names", "store_names", "active", "two_factor"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "user__email"]
    actions = ["deactivate", "reset_two_factor"]
    actions_detail = ["reset_two_factor_page"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        confirmed_app = TOTPDevice.objects.filter(user=OuterRef("user"), confirmed=True)
        return (
            staff_visible_to(request.user)
            .prefetch_related("stores", "user__groups__role")
            .annotate(has_two_factor=Exists(confirmed_app))
        )

    def get_list_display(self, request: HttpRequest) -> Any:
        shown = list(super().get_list_display(request))
        return shown if self.is_operator(request) else [f for f in shown if f != "merchant"]

    def get_list_filter(self, request: HttpRequest) -> Any:
        return ["merchant", "all_stores"] if self.is_operator(request) else ["all_stores"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        account = ["username", "first_name", "last_name", "email", "password1", "password2"]
        if obj is not None:
            account = ["username", "first_name", "last_name", "email", "is_active", "password1", "password2"]
        access = ["roles", "all_stores", "stores"]
        if obj is None and self.is_operator(request):
            access = ["merchant", *access]
        return [(_("Account"), {"fields": account}), (_("Access"), {"fields": access})]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        return _with_request(super().get_form(request, obj, change=change, **kwargs), request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: documents keep pointing at their author (B3)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        stores = None if data.get("all_stores") else list(data.get("stores") or [])
        if change:
            services.update_staff(
                staff=obj,
                roles=list(data["roles"]),
                stores=stores,
                email=data["email"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                is_active=data["is_active"],
                password=data.get("password1") or None,
                actor=request.user,
            )
            return
        staff = request_staff(request)
        created = services.add_staff(
            merchant=staff.merchant if staff is not None else data["merchant"],
            username=data["username"],
            password=data["password1"],
            roles=list(data["roles"]),
            stores=stores,
            email=data["email"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            actor=request.user,
        )
        _adopt(obj, created)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Stores and roles were set by the service."""

    @display(description=_("username"), ordering="user__username")
    def username(self, obj: StaffMembership) -> str:
        return obj.user.username

    @display(description=_("name"))
    def full_name(self, obj: StaffMembership) -> str:
        return obj.user.get_full_name()

    @display(description=_("roles"))
    def role_names(self, obj: StaffMembership) -> str:
        return ", ".join(sorted(r.name for r in roles_of_user(obj.user)))

    @display(description=_("stores"))
    def store_names(self, obj: StaffMembership) -> str:
        return str(_("All stores")) if obj.all_stores else ", ".join(s.name for s in obj.stores.all())

    @display(description=_("active"), boolean=True)
    def active(self, obj: StaffMembership) -> bool:
        return bool(obj.user.is_active)

    @display(description=_("two-factor login"), boolean=True)
    def two_factor(self, obj: StaffMembership) -> bool:
        return bool(getattr(obj, "has_two_factor", False))

    @action(description=_("Reset two-factor login of selected staff"), permissions=["change"])
    def reset_two_factor(self, request: HttpRequest, queryset: QuerySet[StaffMembership]) -> None:
        done = 0
        for staff in queryset:
            try:
                two_factor.reset_two_factor(staff=staff, actor=request.user)
                done += 1
            except DomainError as error:
                self.message_user(request, f"{staff.user}: {error.message}", messages.ERROR)
        if done:
            message = _("Two-factor login reset for %(count)d staff.") % {"count": done}
            self.message_user(request, message, messages.SUCCESS)

    @action(
        description=_("Reset two-factor login"),
        url_path="reset-two-factor",
        permissions=["change"],
        icon="phonelink_erase",
    )
    def reset_two_factor_page(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """B4: a staff user lost their phone and recovery codes; they set two-factor login up again."""
        staff = self.get_object(request, object_id)
        if staff is None:
            raise Http404
        change_url = reverse("admin:tenancy_staffmembership_change", args=[staff.pk])
        if request.method == "POST":
            try:
                two_factor.reset_two_factor(staff=staff, actor=request.user)
            except DomainError as error:
                self.message_user(request, str(error.message), messages.ERROR)
            else:
                message = _("Two-factor login of %(user)s was reset.") % {"user": staff.user.get_username()}
                self.message_user(request, message, messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Reset two-factor login"),
            "staff": staff,
            "enabled": two_factor.has_two_factor(staff.user),
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/tenancy/staffmembership/reset_two_factor.html", context)

    @action(description=_("Deactivate selected staff"), permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[StaffMembership]) -> None:
        done = 0
        for staff in queryset:
            try:
                services.deactivate_staff(staff=staff, actor=request.user)
                done += 1
            except DomainError as error:
                self.message_user(request, f"{staff.user}: {error.message}", messages.ERROR)
        if done:
            self.message_user(request, _("%(count)d staff deactivated.") % {"count": done}, messages.SUCCESS)


@admin.register(Role)
class RoleAdmin(TenantHistoryAdmin):
    """A role is a named set of permissions of the merchant's own (B1); default roles stay."""

    form = RoleForm
    list_display = ["name", "merchant", "is_default"]
    search_fields = ["name"]

    def get_list_display(self, request: HttpRequest) -> Any:
        shown = list(super().get_list_display(request))
        return shown if self.is_operator(request) else [f for f in shown if f != "merchant"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (["merchant"] if obj is None and self.is_operator(request) else []) + ["name", "permissions"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        return _with_request(super().get_form(request, obj, change=change, **kwargs), request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.key:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> Any:
        found = super().get_actions(request)
        found.pop("delete_selected", None)  # deleting goes one by one, through the service
        return found

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        permission_ids = [p.pk for p in form.cleaned_data["permissions"]]
        if change:
            services.update_role(role=obj, name=obj.name, permission_ids=permission_ids, actor=request.user)
            return
        staff = request_staff(request)
        created = services.create_role(
            merchant=staff.merchant if staff is not None else form.cleaned_data["merchant"],
            name=obj.name,
            permission_ids=permission_ids,
            actor=request.user,
        )
        _adopt(obj, created)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Permissions were set by the service."""

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.delete_role(role=obj, actor=request.user)

    @display(description=_("default role"), boolean=True)
    def is_default(self, obj: Role) -> bool:
        return bool(obj.key)


@admin.register(ApiKey)
class ApiKeyAdmin(TenantAdmin):
    """POS and integration keys; the raw key is shown once, on the page after creating it."""

    form = ApiKeyForm
    list_display = ["name", "prefix", "scope", "store", "merchant", "is_active", "last_used_at", "created_by"]
    list_filter = ["merchant", "scope", "store"]
    search_fields = ["name", "prefix"]
    actions = ["revoke"]

    def get_list_display(self, request: HttpRequest) -> Any:
        shown = list(super().get_list_display(request))
        return shown if self.is_operator(request) else [f for f in shown if f != "merchant"]

    def get_list_filter(self, request: HttpRequest) -> Any:
        return ["merchant", "scope", "store"] if self.is_operator(request) else ["scope"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:
            return [
                "name",
                "prefix",
                "scope",
                "store",
                "created_by",
                "created_at",
                "last_used_at",
                "revoked_at",
            ]
        return (["merchant"] if self.is_operator(request) else []) + ["name", "scope", "store"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_fields(request, obj) if obj is not None else []

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        return _with_request(super().get_form(request, obj, change=change, **kwargs), request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the key's name stays on the transactions it made

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            return  # nothing is editable; revoking is an action
        staff = request_staff(request)
        issued = services.create_api_key(
            merchant=staff.merchant if staff is not None else form.cleaned_data["merchant"],
            name=obj.name,
            store=obj.store,
            scope=Scope(obj.scope),
            actor=request.user,
        )
        request._issued_api_key = issued  # type: ignore[attr-defined]
        _adopt(obj, issued.key)

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: str | None = None) -> Any:
        issued = getattr(request, "_issued_api_key", None)
        if issued is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": _("API key created"),
            "opts": self.opts,
            "key": issued.key,
            "raw_key": issued.raw_key,
        }
        response = TemplateResponse(request, "admin/tenancy/apikey/created.html", context)
        add_never_cache_headers(response)  # the secret must not stay in any cache
        return response

    @display(description=_("active"), boolean=True)
    def is_active(self, obj: ApiKey) -> bool:
        return obj.is_active

    @action(description=_("Revoke selected keys"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            services.revoke_api_key(key=key, actor=request.user)
        self.message_user(request, _("%(count)d keys revoked.") % {"count": len(queryset)}, messages.SUCCESS)


# Django's own users and groups are the platform's plumbing: only operators see them. Staff are managed
# on the Staff page, roles on the Roles page, both scoped to the merchant.
admin.site.unregister(User)
admin.site.unregister(Group)


class OperatorOnly:
    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return bool(request.user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)


@admin.register(User)
class UserAdmin(OperatorOnly, DjangoUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class GroupAdmin(OperatorOnly, DjangoGroupAdmin, ModelAdmin):
    pass
