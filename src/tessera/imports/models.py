"""Imports of members and their opening balances from .xlsx and .csv files (C4).

A job goes uploaded → (mapping) → validating → validated → applying → done; it can fail or be
cancelled on the way. The dry run (validating) reads the whole file and records every bad row in
ImportRowError without writing a member; apply reads it again and writes.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tessera.core.models import TenantOwned


class FileFormat(models.TextChoices):
    CSV = "csv", _("CSV")
    XLSX = "xlsx", _("Excel (.xlsx)")


class ImportMode(models.TextChoices):
    ALL_OR_NOTHING = "all_or_nothing", _("All or nothing: one bad row stops the whole file")
    SKIP_BAD_ROWS = "skip_bad_rows", _("Skip bad rows: import the good rows, report the rest")


class DuplicatePolicy(models.TextChoices):
    SKIP = "skip", _("Skip the row")
    UPDATE_EMPTY = "update_empty", _("Fill in the member's empty fields")
    ERROR = "error", _("Report it as an error")


class ImportState(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded")
    VALIDATING = "validating", _("Checking")
    VALIDATED = "validated", _("Checked")
    APPLYING = "applying", _("Importing")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


def upload_path(instance: Any, filename: str) -> str:
    """MEDIA_ROOT/imports/<merchant id>/<random>.<ext>: never the uploaded name, which is personal."""
    return f"imports/{instance.merchant_id}/{uuid.uuid4().hex}{Path(filename).suffix.lower()}"


#: States in which a worker owns the job; only it moves the job on (cancel asks it to stop).
RUNNING_STATES = (ImportState.VALIDATING, ImportState.APPLYING)


class ImportJob(TenantOwned):
    """One uploaded file, its column mapping and options, and what checking and importing it did."""

    file = models.FileField(_("file"), upload_to=upload_path, max_length=300)
    original_name = models.CharField(_("file name"), max_length=255)
    file_format = models.CharField(_("format"), max_length=10, choices=FileFormat.choices)
    file_size = models.BigIntegerField(_("file size (bytes)"), default=0)
    #: The header row as read from the file, in order.
    headers = models.JSONField(_("columns in the file"), default=list)
    #: {header: field name}; headers left out are ignored.
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    mode = models.CharField(
        _("when a row is bad"), max_length=20, choices=ImportMode.choices, default=ImportMode.ALL_OR_NOTHING
    )
    duplicate_policy = models.CharField(
        _("when the phone is already a member"),
        max_length=20,
        choices=DuplicatePolicy.choices,
        default=DuplicatePolicy.SKIP,
    )
    default_expiry = models.DateField(
        _("opening balances expire on"),
        null=True,
        blank=True,
        help_text=_(
            "For rows without an expiry date. Empty: such points expire as the points policy says, "
            "counted from the day they were earned."
        ),
    )
    state = models.CharField(
        _("state"), max_length=20, choices=ImportState.choices, default=ImportState.UPLOADED
    )
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    valid_rows = models.PositiveIntegerField(_("valid rows"), default=0)
    invalid_rows = models.PositiveIntegerField(_("rows with errors"), default=0)
    #: After the dry run: what apply would do; after apply: what it did.
    created_count = models.PositiveIntegerField(_("members created"), default=0)
    updated_count = models.PositiveIntegerField(_("members updated"), default=0)
    skipped_count = models.PositiveIntegerField(_("rows skipped"), default=0)
    points_total = models.BigIntegerField(_("opening points"), default=0)
    #: Rows read so far by the running pass (the live figure is in the progress file, see `progress`).
    rows_done = models.PositiveIntegerField(_("rows processed"), default=0)
    #: Apply in skip-bad-rows mode commits chunk by chunk; a resumed task starts after this row.
    applied_through_row = models.PositiveIntegerField(default=0, editable=False)
    failure = models.TextField(_("why it failed"), blank=True)
    validated_at = models.DateTimeField(_("checked at"), null=True, blank=True)
    started_at = models.DateTimeField(_("import started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    file_deleted_at = models.DateTimeField(_("file deleted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("member import")
        verbose_name_plural = _("member imports")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["merchant", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_rows__lte=models.F("total_rows")), name="importjob_valid_within_total"
            )
        ]

    def __str__(self) -> str:
        return f"{self.original_name} (#{self.pk})"

    @property
    def is_running(self) -> bool:
        return self.state in RUNNING_STATES


class ImportRowError(models.Model):
    """One problem in one cell (or row) of an import file. `message` is in the merchant's language."""

    #: Denormalised like every tenant table: `merchant_id` is the distribution column (DESIGN "Tenancy").
    merchant = models.ForeignKey("tenancy.Merchant", on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="errors")
    row = models.PositiveIntegerField(_("row"))
    column = models.CharField(_("column"), max_length=200, blank=True)
    value = models.CharField(_("value"), max_length=300, blank=True)
    code = models.CharField(_("code"), max_length=50)
    message = models.CharField(_("message"), max_length=500)

    class Meta:
        verbose_name = _("import error")
        verbose_name_plural = _("import errors")
        ordering = ["job", "row", "pk"]
        indexes = [models.Index(fields=["job", "row"])]

    def __str__(self) -> str:
        return f"{self.row}: {self.code}"


class StagedRow(models.Model):
    """One checked row of a job's file, as the check read it (issue 16): the values apply writes with
    `INSERT … SELECT`, so the file is read once. The set rules (duplicates in the file, phones already
    members) are checked over these rows in SQL. Deleted when the import ends or is checked again."""

    class Action(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        SKIP = "skip"
        REJECT = "reject"

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="staged_rows")
    #: The row number a spreadsheet shows (the header is row 1).
    line = models.PositiveIntegerField()
    action = models.CharField(max_length=10, choices=Action.choices)
    #: E.164 ("" when the cell was not a phone) and the cell as written, for the error report.
    phone = models.CharField(max_length=20, blank=True)
    phone_cell = models.CharField(max_length=300, blank=True)
    full_name = models.TextField(blank=True)
    email = models.TextField(blank=True)
    address = models.TextField(blank=True)
    region = models.TextField(blank=True)
    birthday = models.DateField(null=True)
    gender = models.TextField(blank=True)
    occupation = models.TextField(blank=True)
    id_number = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    home_store_id = models.BigIntegerField(null=True)
    marketing_sms = models.BooleanField(default=False)
    marketing_email = models.BooleanField(default=False)
    search_text = models.TextField(blank=True)
    tag_ids = models.JSONField(default=list)
    points = models.BigIntegerField(default=0)
    earned_at = models.DateTimeField(null=True)
    expires_at = models.DateTimeField(null=True)
    #: The current member with the row's phone, found by the check: the one it fills in (action
    #: "update") or leaves alone ("skip").
    member_id = models.BigIntegerField(null=True)

    class Meta:
        verbose_name = _("staged row")
        verbose_name_plural = _("staged rows")
        default_permissions = ()  # the import's own working table: nothing a role is given
        constraints = [models.UniqueConstraint(fields=["job", "line"], name="stagedrow_line_once_per_job")]
        indexes = [models.Index(fields=["job", "phone", "line"], name="stagedrow_phone")]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.line}"
