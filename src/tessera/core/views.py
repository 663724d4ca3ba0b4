"""Small back-office pages of core: the amount preview (issue 14) and the user's exports (issue 16).

The scanner and the add-points form show "= 150.000 ₫" beside the amount field as staff type. The
page asks here rather than re-implementing the rules in JavaScript: `parse_money` stays the one
authority, and the figure shown is the one the form will save.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core import signing
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from tessera.core import export_jobs
from tessera.core.errors import DomainError
from tessera.core.exports import CONTENT_TYPES
from tessera.core.formatting import format_money
from tessera.core.money import MAX_TEXT, parse_money
from tessera.core.problem import domain_problem, problem


@require_GET
def money_preview(request: HttpRequest) -> HttpResponse:
    """GET ?text=150.000 → {"amount": 150000, "display": "150.000 ₫"} in the staff member's currency
    and language; text that does not read is a problem+json with the parser's code and message."""
    # `request.staff` is set by tenancy's StaffLocaleMiddleware for signed-in staff.
    staff = getattr(request, "staff", None)
    if not request.user.is_authenticated or staff is None:
        return problem(request, status=403, code="permission_denied", detail=_("Sign in again."))
    currency = staff.merchant.currency
    try:
        amount = parse_money(request.GET.get("text", "")[: MAX_TEXT + 1], currency)
    except DomainError as exc:
        return domain_problem(request, exc)
    return JsonResponse({"amount": amount, "display": format_money(amount, currency)})


# --- My exports (issue 16) --------------------------------------------------------------------------


def _viewer_merchant(request: HttpRequest) -> Any:
    staff = getattr(request, "staff", None)
    return staff.merchant if staff is not None else None


def my_exports(request: HttpRequest) -> HttpResponse:
    """The exports the user asked for (all of the merchant's for those who may download any), newest
    first, with their progress and a fresh download link; the page reloads itself while one runs."""
    jobs = list(export_jobs.exports_visible_to(request.user, _viewer_merchant(request))[:100])
    now = timezone.now()
    rows = [
        (job, export_jobs.download_link(job, request.user) if job.file and job.expires_at > now else None)
        for job in jobs
    ]
    return render(
        request,
        "core/exports.html",
        {
            **admin.site.each_context(request),
            "title": _("My exports"),
            "rows": rows,
            "running": any(job.running for job in jobs),
            "retention_days": settings.EXPORT_RETENTION_DAYS,
        },
    )


def download_export(request: HttpRequest, token: str) -> HttpResponseBase:
    """The file of an export, through its signed link: for the user the link was given to, while the
    link and the export are fresh; each download is recorded. Anything else names no file: 404."""
    try:
        job_id = export_jobs.job_of_link(token, request.user)
    except export_jobs.LinkExpired:
        messages.error(request, _("This download link has expired. Download the file again from this list."))
        return redirect("exports:list")
    except (signing.BadSignature, ValueError):
        raise Http404 from None
    job = export_jobs.exports_visible_to(request.user, _viewer_merchant(request)).filter(pk=job_id).first()
    if job is None or not job.file or job.expires_at <= timezone.now():
        raise Http404
    try:
        handle = export_jobs.storage().open(job.file, "rb")
    except FileNotFoundError:
        raise Http404 from None
    export_jobs.record_download(job=job, user=request.user)
    return FileResponse(
        handle,
        as_attachment=True,
        filename=f"{job.filename}.{job.format}",
        content_type=CONTENT_TYPES[job.format],
    )
