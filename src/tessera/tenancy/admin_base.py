"""The one base class for back-office pages of merchant-owned data.

Every queryset starts from the staff member's merchant (and stores, when store-scoped); a row of
another merchant is a 404, never a redirect that confirms it exists. Platform operators (superusers)
see every merchant.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import RangeDateFilter
from unfold.utils import parse_date_str

from tessera.core.models import TenantOwned
from tessera.tenancy.models import Merchant, StaffMembership, Store


def request_staff(request: HttpRequest) -> StaffMembership | None:
    return getattr(request, "staff", None)


class LocalDateRangeFilter(RangeDateFilter):
    """From/to dates on a datetime field, as calendar days in the staff's (merchant's) time zone, both
    days included. Unfold's own compares the datetime with naive midnights and drops the "to" day."""

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        local = {}
        for suffix, lookup in (("_from", "gte"), ("_to", "lte")):
            value = self.used_parameters.get(f"{self.parameter_name}{suffix}")
            if isinstance(value, str) and value:
                local[f"{self.parameter_name}__date__{lookup}"] = parse_date_str(value)
        try:
            return queryset.filter(**local)
        except (ValueError, ValidationError):
            return None


class ReadOnlyAdminMixin:
    """For documents only services write (sales, deliveries, versions): the back office shows them,
    and changes them only through its actions, never through a form."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(TabularInline):
    """Rows that belong to the document above (a sale's lines, a rule's versions): shown, never edited,
    to whoever may see that document (`parent_view_permission`)."""

    parent_view_permission = ""
    extra = 0
    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm(self.parent_view_permission))


class TenantAdmin(ModelAdmin):
    """Scopes lists, lookups, choices and saves to the request's merchant and stores."""

    def is_operator(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        if self.is_operator(request):
            return qs
        staff = request_staff(request)
        if staff is None:
            return qs.none()
        if issubclass(self.model, TenantOwned):
            return qs.filter(pk__in=self.model.objects.visible_to(staff).values("pk"))
        return qs.none()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return (
            self.is_operator(request) or request_staff(request) is not None
        ) and super().has_module_permission(request)

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        exclude = list(super().get_exclude(request, obj) or [])
        if not self.is_operator(request) and "merchant" not in exclude:
            exclude.append("merchant")
        return exclude

    def get_list_filter(self, request: HttpRequest) -> Any:
        filters = list(super().get_list_filter(request))
        if not self.is_operator(request):
            filters = [f for f in filters if f != "merchant"]
        return filters

    def formfield_for_dbfield(
        self, db_field: models.Field[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> Any:
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        staff = request_staff(request)
        remote = getattr(db_field, "remote_field", None)
        if field is not None and staff is not None and remote is not None and hasattr(field, "queryset"):
            related = remote.model
            if related is Store:
                field.queryset = Store.objects.visible_to(staff)
            elif related is Merchant:
                field.queryset = Merchant.objects.filter(pk=staff.merchant_id)
            elif isinstance(related, type) and issubclass(related, TenantOwned):
                field.queryset = field.queryset.filter(merchant_id=staff.merchant_id)
        return field

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        staff = request_staff(request)
        if not change and staff is not None and isinstance(obj, TenantOwned):
            obj.merchant_id = staff.merchant_id
        if hasattr(obj, "stamp"):
            obj.stamp(request.user)
        super().save_model(request, obj, form, change)

    def _get_obj_does_not_exist_redirect(
        self, request: HttpRequest, opts: Any, object_id: str
    ) -> HttpResponse:
        raise Http404


class TenantHistoryAdmin(SimpleHistoryAdmin, TenantAdmin):
    """A scoped admin with the viewable change history of django-simple-history (B3)."""

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        if not self.get_queryset(request).filter(pk=object_id).exists():
            raise Http404
        return super().history_view(request, object_id, extra_context)

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: Any = None
    ) -> HttpResponse:
        # Old versions can be read, not restored: a revert would write around the services.
        if request.method == "POST" or not self.get_queryset(request).filter(pk=object_id).exists():
            raise Http404
        return super().history_form_view(request, object_id, version_id, extra_context)

    def revert_disabled(self, request: HttpRequest, obj: Any = None) -> bool:
        return True
