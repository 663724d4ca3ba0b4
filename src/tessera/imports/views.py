"""Back-office pages for member imports (C4): upload → mapping → dry run → apply, in the Unfold layout.

A job of another merchant is a 404 on every page and download, never a 403 that confirms it exists.
Views parse, check permissions and call services; the work itself runs in a huey task.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from tessera.core.errors import DomainError
from tessera.core.exports import Column, export_response
from tessera.imports import selectors, services
from tessera.imports.fields import FIELDS, TEMPLATE_LANGUAGES
from tessera.imports.forms import MappingForm, UploadForm
from tessera.imports.models import ImportJob, ImportState
from tessera.tenancy.admin_base import request_staff

VIEW = "imports.view_importjob"
ADD = "imports.add_importjob"


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


def _job(request: HttpRequest, pk: int) -> ImportJob:
    job = selectors.jobs_visible_to(request.user, request_staff(request)).filter(pk=pk).first()
    if job is None:
        raise Http404
    return job


def _page(request: HttpRequest, template: str, title: str, **context: Any) -> HttpResponse:
    return render(request, template, {**admin.site.each_context(request), "title": title, **context})


def import_list(request: HttpRequest) -> HttpResponse:
    """The merchant's imports, newest first, and the upload form."""
    _require(request, VIEW)
    staff = request_staff(request)
    form = UploadForm()
    can_add = staff is not None and request.user.has_perm(ADD)
    if request.method == "POST":
        if not can_add or staff is None:
            raise PermissionDenied
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                job = services.upload_import(
                    merchant=staff.merchant, upload=form.cleaned_data["file"], actor=request.user
                )
            except DomainError as exc:
                form.add_error("file", str(exc))
            else:
                return redirect("imports:mapping", pk=job.pk)
    jobs = selectors.jobs_visible_to(request.user, staff)[:50]
    return _page(request, "imports/list.html", _("Import members"), form=form, jobs=jobs, can_add=can_add)


def mapping(request: HttpRequest, pk: int) -> HttpResponse:
    """Which column is which field, and the options; submitting starts the dry run."""
    _require(request, ADD)
    job = _job(request, pk)
    if job.state not in (ImportState.UPLOADED, ImportState.VALIDATED, ImportState.FAILED):
        return redirect("imports:job", pk=job.pk)
    samples = selectors.sample_values(job)
    form = MappingForm(request.POST or None, job=job, samples=samples)
    if request.method == "POST" and form.is_valid():
        try:
            services.check_import(
                job=job,
                mapping=form.mapping(),
                mode=form.cleaned_data["mode"],
                duplicate_policy=form.cleaned_data["duplicate_policy"],
                default_expiry=form.cleaned_data["default_expiry"],
                actor=request.user,
            )
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("imports:job", pk=job.pk)
    return _page(request, "imports/mapping.html", _("Match the columns"), job=job, form=form)


def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The job's state, counts and first errors; polls its progress while a pass runs."""
    _require(request, VIEW)
    job = _job(request, pk)
    errors = list(job.errors.order_by("row", "pk")[:100])
    return _page(
        request,
        "imports/job.html",
        str(job.original_name),
        job=job,
        progress=selectors.progress_of(job),
        errors=errors,
        can_add=request.user.has_perm(ADD) and request_staff(request) is not None,
    )


def job_progress(request: HttpRequest, pk: int) -> JsonResponse:
    _require(request, VIEW)
    return JsonResponse(asdict(selectors.progress_of(_job(request, pk))))


@require_POST
def apply(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, ADD)
    job = _job(request, pk)
    try:
        services.apply_import(job=job, actor=request.user)
    except DomainError as exc:
        messages.error(request, str(exc))
    return redirect("imports:job", pk=job.pk)


@require_POST
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, ADD)
    job = _job(request, pk)
    try:
        services.cancel_import(job=job, actor=request.user)
    except DomainError as exc:
        messages.error(request, str(exc))
    return redirect("imports:job", pk=job.pk)


def _report_columns() -> list[Column]:
    return [
        Column(_("Row"), "int"),
        Column(_("Column")),
        Column(_("Value")),
        Column(_("Code")),
        Column(_("Message")),
    ]


def error_report(request: HttpRequest, pk: int, fmt: str) -> HttpResponseBase:
    """Every problem of the job's last pass, as .csv or .xlsx, streamed from the database."""
    _require(request, VIEW)
    job = _job(request, pk)
    filename = f"import-{job.pk}-errors"
    columns = _report_columns()
    if fmt == "csv":
        return export_response(
            fmt="csv",
            filename=filename,
            title=filename,
            columns=columns,
            rows=selectors.error_rows(job),
            merchant=job.merchant,
        )
    if fmt != "xlsx":
        raise Http404
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Errors"))
    sheet.append([c.title for c in columns])
    for row in selectors.error_rows(job):
        sheet.append([row[0], row[1], _as_text(sheet, row[2]), row[3], row[4]])
    return _xlsx_response(workbook, f"{filename}.xlsx")


def _xlsx_response(workbook: Workbook, filename: str) -> FileResponse:
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it
    workbook.save(spool)
    spool.seek(0)
    return FileResponse(
        spool,
        as_attachment=True,
        filename=filename,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def _as_text(sheet: Any, value: str) -> WriteOnlyCell:
    """A value from the file is text, even when it starts with "=": never a formula to run."""
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"
    return cell


#: The example row of the template file: one member with opening points, in the merchant's formats.
_EXAMPLE = {
    "phone": "0912 345 678",
    "full_name": "Nguyễn Thị Hồng",
    "email": "hong@example.vn",
    "birthday": "03/05/1990",
    "points": "1500",
    "points_earned_on": "01/02/2024",
}


def template_file(request: HttpRequest, language: str) -> HttpResponseBase:
    """An .xlsx with a column for every field, its header in `language` (vi, zh-hans, en) as the
    mapping step recognises it, and an example row: a file to fill in for an import."""
    _require(request, VIEW)
    if language not in TEMPLATE_LANGUAGES:
        raise Http404
    workbook = Workbook(write_only=True)
    with translation.override(language):
        sheet = workbook.create_sheet(_("Members"))
        sheet.append([str(f.label) for f in FIELDS])
    sheet.append([_as_text(sheet, _EXAMPLE.get(f.name, "")) for f in FIELDS])
    return _xlsx_response(workbook, f"tessera-members-{language}.xlsx")
