"""The one base class for back-office pages of merchant-owned data.

Every queryset starts from the staff member's merchant (and stores, when store-scoped); a row of
another merchant is a 404, never a redirect that confirms it exists. Platform operators (superusers)
see every merchant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import RelatedFieldListFilter
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import RangeDateFilter
from unfold.decorators import action
from unfold.utils import parse_date_str

from tessera.core.errors import DomainError
from tessera.core.export_jobs import ExportContent, register_source, start_export
from tessera.core.exports import (
    Column,
    ExportFormat,
    ExportNotAllowed,
    export_response,
    require_export_permission,
)
from tessera.core.models import ExportJob, TenantOwned
from tessera.tenancy.models import Merchant, StaffMembership, Store
from tessera.tenancy.permissions import staff_of


def request_staff(request: HttpRequest) -> StaffMembership | None:
    return getattr(request, "staff", None)


class TenantRelatedFieldListFilter(RelatedFieldListFilter):
    """A filter on a related store, tier, gift…: offers only the staff member's merchant's (and stores')
    rows. Django's stock one lists every row of the related table, every merchant's names included."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        rows = field.related_model._default_manager.visible_to(request_staff(request))
        return [(str(row.pk), str(row)) for row in rows]


def _scoped_filter(model: type[models.Model], spec: Any) -> Any:
    """`spec` with a plain related-field name naming a per-merchant model replaced by the scoped filter."""
    if not isinstance(spec, str) or LOOKUP_SEP in spec:
        return spec
    field = model._meta.get_field(spec)
    related = field.related_model if field.is_relation else None
    if related is not None and hasattr(related._default_manager, "visible_to"):
        return (spec, TenantRelatedFieldListFilter)
    return spec


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


class ServiceSaveMixin:
    """Saves through the app's service (`service(obj, user)`), a new row for the staff member's merchant,
    showing a rule's refusal as a message instead of a crash. Its history names the user, as
    SimpleHistoryAdmin's own save would."""

    service: Any = None

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        staff = request_staff(request)
        if not change and staff is not None:
            obj.merchant_id = staff.merchant_id
        obj._history_user = request.user
        try:
            type(self).service(obj, request.user)
        except DomainError as exc:
            messages.error(request, str(exc))


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
        if self.is_operator(request):
            return filters
        return [_scoped_filter(self.model, f) for f in filters if f != "merchant"]

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


EXPORT_ACTIONS: dict[str, Any] = {
    "title": _("Export"),
    "icon": "download",
    "items": ["export_csv", "export_xlsx", "export_pdf"],
}


class ExportAdminMixin:
    """An "Export" menu (CSV, Excel, PDF) on a changelist (C4, J6). The file holds the rows the list
    shows (its filters, search and ordering, across all pages) to staff holding `export_permission`;
    others see no menu and get 403 on the URLs. Subclasses give `export_columns` and `export_rows`."""

    export_permission = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        actions_list = list(getattr(self, "actions_list", ()) or ())
        if EXPORT_ACTIONS not in actions_list:
            self.actions_list = [*actions_list, EXPORT_ACTIONS]

    def export_columns(self, request: HttpRequest) -> Sequence[Column]:
        raise NotImplementedError

    def export_rows(self, request: HttpRequest, queryset: QuerySet[Any]) -> Iterable[Sequence[Any]]:
        """The rows of `queryset` (the changelist's), one per object, in `export_columns` order."""
        raise NotImplementedError

    def export_title(self, request: HttpRequest) -> str:
        return capfirst(str(self.model._meta.verbose_name_plural))  # type: ignore[attr-defined]

    def has_export_permission(self, request: HttpRequest) -> bool:
        return bool(self.export_permission) and bool(request.user.has_perm(self.export_permission))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        response = super().changelist_view(request, extra_context)  # type: ignore[misc]
        # The menu's links carry the list's query string, so the file holds what the list shows.
        query = request.GET.urlencode()
        context = getattr(response, "context_data", None)
        if query and context:
            for item in context.get("actions_list") or []:
                for link in item.get("items", [item]) if isinstance(item, dict) else []:
                    path = link.get("path", "")
                    if "/export-" in path:
                        link["path"] = f"{path}?{query}"
        return response

    @action(description=_("CSV"), icon="csv", url_path="export-csv", permissions=["export"])
    def export_csv(self, request: HttpRequest) -> HttpResponseBase:
        return self._export(request, "csv")

    @action(description=_("Excel (.xlsx)"), icon="table_view", url_path="export-xlsx", permissions=["export"])
    def export_xlsx(self, request: HttpRequest) -> HttpResponseBase:
        return self._export(request, "xlsx")

    @action(description=_("PDF (print)"), icon="print", url_path="export-pdf", permissions=["export"])
    def export_pdf(self, request: HttpRequest) -> HttpResponseBase:
        return self._export(request, "pdf")

    def _export(self, request: HttpRequest, fmt: ExportFormat) -> HttpResponseBase:
        require_export_permission(request, self.export_permission)
        opts = self.model._meta  # type: ignore[attr-defined]
        back = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        back_with_filters = f"{back}?{request.GET.urlencode()}" if request.GET else back
        try:
            changelist = self.get_changelist_instance(request)  # type: ignore[attr-defined]
        except IncorrectLookupParameters:
            return HttpResponseRedirect(back)
        queryset = changelist.queryset
        merchant = self._export_merchant(request, queryset)
        if merchant is None:
            messages.error(request, _("Filter the list down to one merchant before exporting it."))
            return HttpResponseRedirect(back_with_filters)
        filename = f"{opts.model_name}-{timezone.localdate(timezone=merchant.tz):%Y%m%d}"
        if fmt != "csv" and changelist.result_count > settings.EXPORT_INLINE_ROWS:
            # A long list's Excel or PDF is built by a background job, never in this request (issue 16).
            try:
                start_export(
                    merchant=merchant,
                    requester=request.user,
                    source=LIST_EXPORT,
                    params={"model": opts.label_lower, "query": request.GET.urlencode()},
                    fmt=fmt,
                    title=self.export_title(request),
                    filename=filename,
                    rows_total=changelist.result_count,
                )
            except DomainError as error:
                messages.error(request, str(error))
                return HttpResponseRedirect(back_with_filters)
            messages.success(
                request,
                _("The file is being prepared: it appears in My exports, with a link when it is ready."),
            )
            return HttpResponseRedirect(reverse("exports:list"))
        try:
            return export_response(
                fmt=fmt,
                filename=filename,
                title=self.export_title(request),
                columns=self.export_columns(request),
                rows=self.export_rows(request, queryset),
                merchant=merchant,
                filters=changelist_filters(request, changelist),
                row_count=changelist.result_count,
                request=request,
            )
        except DomainError as error:
            messages.error(request, str(error))
            return HttpResponseRedirect(back_with_filters)

    def _export_merchant(self, request: HttpRequest, queryset: QuerySet[Any]) -> Merchant | None:
        """Whose currency and time zone the file uses: the staff's merchant; for a platform operator,
        the one merchant the rows belong to (None when they span several)."""
        staff = request_staff(request)
        if staff is not None:
            return staff.merchant
        merchant_ids = list(queryset.order_by().values_list("merchant_id", flat=True).distinct()[:2])
        if len(merchant_ids) > 1:
            return None
        if merchant_ids:
            return Merchant.objects.get(pk=merchant_ids[0])
        return Merchant.objects.first()


#: The export source of the back-office lists: a job rebuilds the list its requester saw.
LIST_EXPORT = "admin_list"


def _list_export(job: ExportJob) -> ExportContent:
    """The rows of a list's export job: the list of `job.params["model"]` with the filters and search
    of `job.params["query"]`, as its requester sees it now (their merchant, stores and permissions)."""
    model_admin = admin.site.get_model_admin(apps.get_model(job.params["model"]))
    if not isinstance(model_admin, ExportAdminMixin):
        raise ValueError(f"{job.params['model']} has no export")
    request = HttpRequest()
    request.method = "GET"
    request.GET = QueryDict(job.params["query"])
    request.user = job.requester
    staff = staff_of(job.requester)
    if staff is not None and staff.merchant_id != job.merchant_id:
        staff = None  # moved to another merchant since: the check below refuses
    request.staff = staff  # type: ignore[attr-defined]
    if staff is None and not job.requester.is_superuser:
        raise ExportNotAllowed(_("You are not allowed to print or export this."))
    require_export_permission(request, model_admin.export_permission)
    changelist = model_admin.get_changelist_instance(request)
    return ExportContent(
        title=model_admin.export_title(request),
        columns=model_admin.export_columns(request),
        rows=model_admin.export_rows(request, changelist.queryset),
        filters=changelist_filters(request, changelist),
    )


register_source(LIST_EXPORT, _list_export)


def changelist_filters(request: HttpRequest, changelist: Any) -> list[tuple[str, str]]:
    """The list's active filters and search as ("label", "value") pairs, for an export's heading."""
    pairs: list[tuple[str, str]] = []
    for spec in changelist.filter_specs:
        used = getattr(spec, "used_parameters", None) or {}
        if not used:
            continue
        shown: list[str] = []
        try:
            shown = [
                str(choice["display"])
                for choice in spec.choices(changelist)
                if isinstance(choice, dict) and choice.get("selected") and "display" in choice
            ]
        except (KeyError, TypeError, ValueError):
            shown = []
        if not shown:
            for value in used.values():
                values = value if isinstance(value, list | tuple) else [value]
                shown.extend(str(v) for v in values if v not in (None, ""))
        if shown:
            pairs.append((capfirst(str(spec.title)), " – ".join(shown)))
    hierarchy = getattr(changelist, "date_hierarchy", None)
    if hierarchy:
        parts = [request.GET.get(f"{hierarchy}__{part}", "") for part in ("year", "month", "day")]
        if parts[0]:
            field = changelist.model._meta.get_field(hierarchy)
            pairs.append((capfirst(str(field.verbose_name)), "-".join(p.zfill(2) for p in parts if p)))
    if changelist.query:
        pairs.append((gettext("Search"), changelist.query))
    return pairs
