"""Member imports through the management API (issue 17, C4): upload, dry run, error report, apply,
progress, cancel — the back office's steps, calling the same services (the work runs in the worker).

1. `POST /imports` (multipart, field `file`): the file is stored and its columns read; the answer
   suggests a `mapping` (column → field).
2. `POST /imports/{id}/check` with the mapping and options: the dry run, every row checked, nothing
   written. Poll `GET /imports/{id}` until `state` is `validated` (or `failed`).
3. `GET /imports/{id}/errors`: the problems found, row by row.
4. `POST /imports/{id}/apply`: the import itself; poll `GET /imports/{id}` until `done`.
"""

from __future__ import annotations

from datetime import date, datetime

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, File, Path, Router
from ninja.files import UploadedFile
from ninja.pagination import LimitOffsetPagination, paginate

from tessera.core.api_forms import body_example, one_of
from tessera.core.errors import NotFound
from tessera.core.idempotency import idempotent, key_header
from tessera.core.limits import MAX_SAFE_INTEGER, Id
from tessera.core.problem import ERRORS
from tessera.core.schemas import Schema
from tessera.imports import selectors, services
from tessera.imports.models import DuplicatePolicy, ImportJob, ImportMode, ImportRowError, ImportState
from tessera.tenancy.auth import ApiKeyAuth, ApiRequest
from tessera.tenancy.models import Scope

router = Router(tags=["imports"], auth=ApiKeyAuth(Scope.ADMIN))


class ProgressOut(Schema):
    running: bool
    cancelling: bool
    rows_done: int
    percent: int | None = Field(description="Of the running pass; 100 once checked or done.")
    total_rows: int
    valid_rows: int
    invalid_rows: int
    created: int
    updated: int
    skipped: int
    points: int
    failure: str


class ImportOut(Schema):
    id: int
    file_name: str
    state: ImportState
    headers: list[str] = Field(description="The file's column names.")
    mapping: dict[str, str] = Field(description="Column → field: suggested at upload, then as checked.")
    mode: ImportMode
    duplicate_policy: DuplicatePolicy
    default_expiry: date | None
    created_at: datetime
    progress: ProgressOut

    @staticmethod
    def of(job: ImportJob) -> ImportOut:
        progress = selectors.progress_of(job)
        return ImportOut(
            id=job.pk,
            file_name=job.original_name,
            state=ImportState(job.state),
            headers=list(job.headers),
            mapping=dict(job.mapping),
            mode=ImportMode(job.mode),
            duplicate_policy=DuplicatePolicy(job.duplicate_policy),
            default_expiry=job.default_expiry,
            created_at=job.created_at,
            progress=ProgressOut(
                **{name: getattr(progress, name) for name in ProgressOut.model_fields},
            ),
        )


class CheckIn(Schema):
    mapping: dict[str, str] = Field(description="Column name → field name; one column must be the phone.")
    mode: ImportMode = ImportMode.ALL_OR_NOTHING
    duplicate_policy: DuplicatePolicy = DuplicatePolicy.SKIP
    default_expiry: date | None = Field(None, description="Expiry of imported points without their own.")


class RowErrorOut(Schema):
    row: int
    column: str
    value: str
    code: str
    message: str = Field(description="In the merchant's language.")


def _job(request: ApiRequest, job_id: int) -> ImportJob:
    jobs = ImportJob.objects.of(request.auth.merchant).select_related("merchant")
    return one_of(jobs, job_id, missing=NotFound(_("No such import."), code="import_not_found"))


_FILE = File(..., description="The .xlsx or .csv file; its first row names the columns.")
#: A path id of a paginated operation: ninja's `paginate` reads its annotations where `Id` is unknown.
_PAGED_ID = Path(..., ge=1, le=MAX_SAFE_INTEGER)
_PAGINATED = "Paginated: `limit` (default 100) and `offset`; the answer has `items` and `count`."


@router.get(
    "",
    response={200: list[ImportOut], **ERRORS},
    operation_id="listImports",
    summary="List member imports",
    description="Newest first. " + _PAGINATED,
)
@paginate(LimitOffsetPagination)
def list_imports(request: ApiRequest) -> list[ImportOut]:
    jobs = (
        ImportJob.objects.of(request.auth.merchant).select_related("merchant").order_by("-created_at", "-pk")
    )
    return [ImportOut.of(job) for job in jobs]


@router.post(
    "",
    response={201: ImportOut, **ERRORS},
    operation_id="uploadImport",
    summary="Upload a member file (.xlsx or .csv)",
    description="multipart/form-data with the file as `file`. Nothing is checked or imported yet; the "
    "answer has the file's columns and a suggested mapping.",
)
def upload(
    request: ApiRequest, file: UploadedFile = _FILE, idempotency_key: str = key_header()
) -> HttpResponse:
    def work() -> tuple[int, ImportOut]:
        return 201, ImportOut.of(services.upload_import(merchant=request.auth.merchant, upload=file))

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


@router.get(
    "/{import_id}",
    response={200: ImportOut, **ERRORS},
    operation_id="getImport",
    summary="An import's state and progress",
)
def get_import(request: ApiRequest, import_id: Id) -> ImportOut:
    return ImportOut.of(_job(request, import_id))


@router.post(
    "/{import_id}/check",
    response={200: ImportOut, **ERRORS},
    operation_id="checkImport",
    summary="Start the dry run",
    description="Saves the mapping and options and checks every row in the worker; nothing is written. "
    "Poll the import until `validated`, then read its errors.",
    openapi_extra=body_example(
        {"mapping": {"Điện thoại": "phone", "Họ tên": "name", "Điểm": "points"}, "mode": "skip_bad_rows"}
    ),
)
def check(
    request: ApiRequest, import_id: Id, payload: CheckIn, idempotency_key: str = key_header()
) -> HttpResponse:
    def work() -> tuple[int, ImportOut]:
        job = services.check_import(
            job=_job(request, import_id),
            mapping=payload.mapping,
            mode=payload.mode,
            duplicate_policy=payload.duplicate_policy,
            default_expiry=payload.default_expiry,
        )
        return 200, ImportOut.of(job)

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


@router.get(
    "/{import_id}/errors",
    response={200: list[RowErrorOut], **ERRORS},
    operation_id="listImportErrors",
    summary="The error report of the last pass",
    description="Every problem found, in row order. " + _PAGINATED,
)
@paginate(LimitOffsetPagination)
def errors(request: ApiRequest, import_id: int = _PAGED_ID) -> object:
    return (
        ImportRowError.objects.filter(job=_job(request, import_id))
        .order_by("row", "pk")
        .values("row", "column", "value", "code", "message")
    )


@router.post(
    "/{import_id}/apply",
    response={200: ImportOut, **ERRORS},
    operation_id="applyImport",
    summary="Import the checked file",
    description="Once, after the dry run: poll the import until `done`. With rows in error under "
    "all-or-nothing: 409 `import_has_errors`. No body.",
)
def apply(request: ApiRequest, import_id: Id, idempotency_key: str = key_header()) -> HttpResponse:
    def work() -> tuple[int, ImportOut]:
        return 200, ImportOut.of(services.apply_import(job=_job(request, import_id)))

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


@router.post(
    "/{import_id}/cancel",
    response={200: ImportOut, **ERRORS},
    operation_id="cancelImport",
    summary="Stop an import",
    description="A running pass stops at its next chunk. No body.",
)
def cancel(request: ApiRequest, import_id: Id, idempotency_key: str = key_header()) -> HttpResponse:
    def work() -> tuple[int, ImportOut]:
        return 200, ImportOut.of(services.cancel_import(job=_job(request, import_id)))

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)
