"""Back-office report pages (/admin/tessera/reports/): the index of the reports the user may see, and
one page per report with its filters, chart, tables and exports (J1–J7, A3).

Scoping (A1, B2): a staff member sees their merchant only, a store-scoped one their stores only;
platform operators pick a merchant. Exports need `reports.export_reports` (J6).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.translation import gettext as _

from tessera.core import periods
from tessera.core.exports import ExportTooLarge, export_response, require_export_permission
from tessera.reports.forms import ReportFilterForm
from tessera.reports.selectors import REPORTS, ReportScope, ReportSpec, Table
from tessera.reports.templatetags.report_cells import report_cell
from tessera.tenancy.admin_base import request_staff
from tessera.tenancy.models import Merchant

EXPORT_FORMATS = ("csv", "xlsx", "pdf")
#: Rows a page shows per table; the exports have them all.
PAGE_ROWS = 2000
_NUMERIC = ("int", "points", "money", "percent")


def _scope(request: HttpRequest) -> tuple[ReportScope | None, list[Merchant]]:
    """The user's scope, and for a platform operator the merchants to pick from (scope None until then)."""
    staff = request_staff(request)
    if staff is not None:
        return ReportScope.of_staff(staff), []
    if not request.user.is_superuser:
        raise PermissionDenied
    merchants = list(Merchant.objects.order_by("name"))
    picked = request.GET.get("merchant", "")
    merchant = next((m for m in merchants if str(m.pk) == picked), None)
    return (ReportScope(merchant) if merchant else None), merchants


def _visible(request: HttpRequest) -> list[ReportSpec]:
    return [spec for spec in REPORTS.values() if request.user.has_perm(spec.permission)]


def index(request: HttpRequest) -> HttpResponse:
    reports = _visible(request)
    if not reports:
        raise PermissionDenied
    scope, merchants = _scope(request)
    return render(
        request,
        "reports/index.html",
        {
            **admin.site.each_context(request),
            "title": _("Reports"),
            "reports": reports,
            "merchants": merchants,
            "scope": scope,
        },
    )


def report(request: HttpRequest, key: str) -> HttpResponseBase:
    spec = REPORTS.get(key)
    if spec is None:
        raise Http404
    if not request.user.has_perm(spec.permission):
        raise PermissionDenied
    scope, merchants = _scope(request)
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": str(spec.title),
        "spec": spec,
        "reports": _visible(request),
        "merchants": merchants,
        "scope": scope,
    }
    if scope is None:
        return render(request, "reports/report.html", context)
    form = ReportFilterForm(request.GET, scope=scope, spec=spec)
    valid = form.is_valid()
    context.update(form=form, presets=_presets(request, form))
    if not valid:
        return render(request, "reports/report.html", context, status=400 if "export" in request.GET else 200)
    fmt = request.GET.get("export")
    filters = form.filters()
    # The page shows a long member list a page at a time; an export has all of it.
    result = spec.build(scope, filters if fmt else replace(filters, page=request.GET.get("page") or 1))
    if fmt:
        require_export_permission(request, "reports.export_reports")
        table = next((t for t in result.tables if t.key == request.GET.get("table")), result.tables[0])
        if fmt not in EXPORT_FORMATS:
            raise Http404
        try:
            return export_response(
                fmt=fmt,  # type: ignore[arg-type]
                filename=f"{spec.key}-{table.key}-{form.cleaned_data['start']}-{form.cleaned_data['end']}",
                title=f"{spec.title} — {table.title}",
                columns=table.columns,
                rows=table.rows,
                row_count=len(table.rows),
                merchant=scope.merchant,
                filters=form.labels(),
                request=request,
            )
        except ExportTooLarge as refused:  # a PDF too long to print: say so on the page, offer the others
            messages.error(request, str(refused.message))
    query = request.GET.copy()
    for key in ("export", "table", "period", "page"):
        query.pop(key, None)
    query["start"], query["end"] = form.data["start"], form.data["end"]
    context.update(
        result=result,
        tables=[_rendered(table, scope.merchant.currency) for table in result.tables],
        chart=json.dumps(result.chart, ensure_ascii=False) if result.chart else None,
        query=query.urlencode(),
        currency=scope.merchant.currency,
        export_formats=[("csv", "CSV"), ("xlsx", "Excel"), ("pdf", "PDF")],
    )
    return render(request, "reports/report.html", context)


def _presets(request: HttpRequest, form: ReportFilterForm) -> list[tuple[str, str, str, bool]]:
    """(key, label, address, in use) of each period preset, keeping the other filters."""
    others = request.GET.copy()
    for key in ("export", "table", "period", "start", "end"):
        others.pop(key, None)
    current = form.preset()
    found = []
    for key, label in periods.PRESETS:
        if key == periods.CUSTOM:
            continue
        others["period"] = key
        found.append((key, str(label), "?" + others.urlencode(), key == current))
    return found


def _rendered(table: Table, currency: str) -> dict[str, Any]:
    """The table as text cells for the page, each flagged numeric (right-aligned) or not."""
    numeric = [column.kind in _NUMERIC for column in table.columns]
    return {
        "key": table.key,
        "title": table.title,
        "columns": [(column.title, n) for column, n in zip(table.columns, numeric, strict=True)],
        "rows": [
            [(report_cell(v, c, currency), n) for v, c, n in zip(row, table.columns, numeric, strict=True)]
            for row in table.rows[:PAGE_ROWS]
        ],
        "page": table.page,
    }
