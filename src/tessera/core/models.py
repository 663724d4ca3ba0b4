"""Building blocks every domain's models stand on: audit fields and merchant scoping."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.conf import settings
from django.db import models
from django.db.models.base import ModelState
from django.db.models.fields.files import FileDescriptor
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.signals import class_prepared, post_init, pre_init
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

if TYPE_CHECKING:
    from tessera.tenancy.models import Merchant, StaffMembership

M = TypeVar("M", bound=models.Model)


@receiver(class_prepared)
def _no_covered_key_index(sender: type[models.Model], **kwargs: Any) -> None:
    """A foreign key of ours gets no index of its own when an index or unique constraint of its model
    already starts with its column (issue 16).

    Django indexes every foreign key; `(merchant_id, status)` serves whatever `merchant_id` alone would,
    so the single-column index only costs every insert and update of the table a second B-tree write
    (members had 12 indexes, entries 11). Only full indexes count: a partial one (`WHERE …`) or one on
    expressions cannot stand in for the key's. Migrations record the result (`db_index=False`), and
    `tests/test_indexes.py` finds any covered index left on PostgreSQL."""
    meta = sender._meta
    if meta.abstract or meta.proxy or meta.auto_created or not sender.__module__.startswith("tessera."):
        return
    leading: set[str] = set()
    for index in meta.indexes:
        if index.condition is None and not index.expressions and index.fields:
            leading.add(index.fields[0].lstrip("-"))
    for constraint in meta.constraints:
        fields = getattr(constraint, "fields", ())
        if isinstance(constraint, models.UniqueConstraint) and constraint.condition is None and fields:
            leading.add(fields[0])
    leading.update(together[0] for together in meta.unique_together if together)
    for field in meta.local_fields:
        if isinstance(field, models.ForeignKey) and field.name in leading:
            field.db_index = False  # type: ignore[attr-defined]  # Django's, not in its stubs


#: Descriptors whose `__set__` on a new instance only stores the value in the instance's `__dict__`.
_STORING_DESCRIPTORS = (ForeignKeyDeferredAttribute, FileDescriptor)


@receiver(class_prepared)
def _lean_from_db(sender: type[models.Model], **kwargs: Any) -> None:
    """A row read from the database becomes an instance of one of our models without `Model.__init__`
    (issue 13: web CPU). Django's `from_db` calls the class with every column, and `__init__` sends
    `pre_init` and `post_init`, then sets each attribute through its descriptor (a foreign key's checks
    its related-object cache, empty on a new instance): a fifth of a millisecond for the ~20 instances
    a sale reads. Ours makes the same instance — the same `_state`, the same `__dict__` — by storing the
    values; a field whose descriptor converts what it is given (a phone number) is still set through it.
    While any receiver listens to `pre_init` or `post_init`, Django's own `from_db` runs, so they see
    every instance as before. `tests/test_lean_from_db.py` compares the two on every model."""
    meta = sender._meta
    if meta.abstract or not sender.__module__.startswith("tessera.") or "from_db" in sender.__dict__:
        return
    attnames = [field.attname for field in meta.concrete_fields]
    converted = [name for name in attnames if _converts_on_set(sender, name)]
    django_from_db = models.Model.from_db.__func__  # type: ignore[attr-defined]

    def from_db(cls: type[models.Model], db: str | None, field_names: Any, values: Any) -> models.Model:
        if pre_init.receivers or post_init.receivers or cls is not sender:
            return django_from_db(cls, db, field_names, values)
        # As Django maps them: the values are the named columns, in the model's order.
        names = attnames if len(values) == len(attnames) else [a for a in attnames if a in field_names]
        new = restored(cls, zip(names, values, strict=True), db)
        stored = new.__dict__
        for name in converted:
            if name in stored:
                setattr(new, name, stored[name])
        return new

    sender.from_db = classmethod(from_db)  # type: ignore[method-assign,assignment]


def restored(model: type[M], columns: Any, db: str | None) -> M:
    """An instance of `model` as read from database `db`, its `__dict__` filled with `columns` (a dict or
    pairs of attribute name and value) as they are: what `from_db` makes of a row, or a copy of the
    columns of an instance it made earlier."""
    new = model.__new__(model)
    new.__dict__.update(columns)
    state = new._state = ModelState()
    state.adding = False
    state.db = db
    return new


def _converts_on_set(model: type[models.Model], attname: str) -> bool:
    for klass in model.__mro__:
        if attname in klass.__dict__:
            descriptor = klass.__dict__[attname]
            return hasattr(descriptor, "__set__") and not isinstance(descriptor, _STORING_DESCRIPTORS)
    return False


class _AllButTheKey:
    """simple_history's `no_db_index`, as a container: every copied field but `id`."""

    def __contains__(self, name: object) -> bool:
        return name != "id"


def keep_history(**options: Any) -> HistoricalRecords:
    """simple_history's `HistoricalRecords`, whose history table indexes only what its rows are found by:
    the original row's `id` (a record's history), besides the library's own date and user.

    The library copies every index of the model's foreign and unique fields into the history table
    (members' had ten), yet history is read by record only (`tests/test_indexes.py`); each index cost
    every change of a record, and every member an import writes, another B-tree insert (issue 16)."""
    return HistoricalRecords(no_db_index=_AllButTheKey(), **options)


class Audited(models.Model):
    """B3: who created a document and when, who changed it last and when."""

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("updated by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        abstract = True

    def stamp(self, actor: Any) -> None:
        """Record `actor` (a user or None for the system) as creator if new, and as last editor."""
        user = actor if getattr(actor, "is_authenticated", False) else None
        if self._state.adding and self.created_by_id is None:
            self.created_by = user
        self.updated_by = user


class TenantQuerySet(models.QuerySet[M]):
    """Querysets of merchant-owned rows. The scoped path is the short one: `Model.objects.of(merchant)`."""

    #: Name of the store field for store-scoped rows; None when the model is merchant-wide.
    store_field: str | None = None

    def of(self, merchant: Merchant | int) -> TenantQuerySet[M]:
        return self.filter(merchant=merchant)

    def visible_to(self, staff: StaffMembership | None) -> TenantQuerySet[M]:
        """Rows of the staff member's merchant, and of their stores when they are store-scoped (B2)."""
        if staff is None:
            return self.none()
        qs = self.filter(merchant_id=staff.merchant_id)
        store_field = getattr(self.model, "STORE_FIELD", None)
        if store_field and not staff.all_stores:
            qs = qs.filter(**{f"{store_field}__in": staff.store_ids()})
        return qs


class TenantManager(models.Manager[M]):
    def get_queryset(self) -> TenantQuerySet[M]:
        return TenantQuerySet(self.model, using=self._db)

    def of(self, merchant: Merchant | int) -> TenantQuerySet[M]:
        return self.get_queryset().of(merchant)

    def visible_to(self, staff: StaffMembership | None) -> TenantQuerySet[M]:
        return self.get_queryset().visible_to(staff)


class TenantOwned(Audited):
    """A document that belongs to one merchant. Every per-merchant unique constraint includes `merchant`."""

    merchant = models.ForeignKey(
        "tenancy.Merchant", verbose_name=_("merchant"), on_delete=models.PROTECT, related_name="+"
    )

    objects: TenantManager[Any] = TenantManager()

    #: Subclasses that belong to a store name the field here, so store-scoped staff see only theirs.
    STORE_FIELD: str | None = None

    class Meta:
        abstract = True


class IdempotencyRecord(models.Model):
    """E11: the stored answer to a mutating API call, replayed when the same key comes again.

    The row is inserted in the same database transaction as the work it guards, so a concurrent
    duplicate waits on the unique index until the first commits, then replays its answer.
    """

    merchant = models.ForeignKey(
        "tenancy.Merchant", verbose_name=_("merchant"), on_delete=models.CASCADE, related_name="+", null=True
    )
    #: An operator's request has no merchant: its keys are scoped to the operator key (issue 17).
    operator_key = models.ForeignKey(
        "tenancy.OperatorKey",
        verbose_name=_("operator key"),
        on_delete=models.CASCADE,
        related_name="+",
        null=True,
    )
    key = models.CharField(_("idempotency key"), max_length=255)
    method = models.CharField(_("method"), max_length=10)
    path = models.CharField(_("path"), max_length=500)
    request_hash = models.CharField(_("request hash"), max_length=64)
    status_code = models.PositiveSmallIntegerField(_("response status"))
    response_body = models.TextField(_("response body"))
    content_type = models.CharField(_("content type"), max_length=100)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(fields=["merchant", "key"], name="idempotency_key_unique_per_merchant"),
            # Rows of merchants have no operator key (NULLs are distinct), so they never meet here.
            models.UniqueConstraint(
                fields=["operator_key", "key"], name="idempotency_key_unique_per_operator"
            ),
            models.CheckConstraint(
                condition=models.Q(merchant__isnull=False, operator_key__isnull=True)
                | models.Q(merchant__isnull=True, operator_key__isnull=False),
                name="idempotency_record_merchant_xor_operator",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting")
    RUNNING = "running", _("Running")
    DONE = "done", _("Ready")
    FAILED = "failed", _("Failed")


class ExportJob(TenantOwned):
    """An Excel or PDF file built by a background job (issue 16), kept for its requester until
    `expires_at`, then purged with its file. The file holds personal data: it lives in the private
    "exports" storage, never under a served address, and is read through a signed, expiring link."""

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), on_delete=models.CASCADE, related_name="+"
    )
    #: Which registered source rebuilds the rows (`tessera.core.export_jobs.register_source`).
    source = models.CharField(_("source"), max_length=100)
    #: What the source needs to rebuild the rows, e.g. the list's model and query string.
    params = models.JSONField(_("parameters"), default=dict)
    format = models.CharField(_("format"), max_length=10)
    title = models.CharField(_("title"), max_length=200)
    filename = models.CharField(_("file name"), max_length=200)
    language = models.CharField(_("language"), max_length=10)
    status = models.CharField(
        _("status"), max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    rows_total = models.PositiveIntegerField(_("rows to write"), null=True, blank=True)
    rows_done = models.PositiveIntegerField(_("rows written"), default=0)
    sheets = models.PositiveSmallIntegerField(_("sheets"), default=0)
    file = models.CharField(_("stored file"), max_length=300, blank=True)
    error = models.TextField(_("error"), blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        permissions = [("download_any_exportjob", _("Can download the exports of every staff member"))]
        indexes = [
            models.Index(fields=["merchant", "requester", "-created_at"], name="export_job_of_requester")
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.format})"

    @property
    def percent(self) -> int | None:
        if not self.rows_total:
            return 100 if self.status == ExportStatus.DONE else None
        return min(100, self.rows_done * 100 // self.rows_total)

    @property
    def running(self) -> bool:
        return self.status in (ExportStatus.QUEUED, ExportStatus.RUNNING)


class ExportDownload(models.Model):
    """Who downloaded which export file, and when (issue 16). Kept after the export is purged."""

    merchant = models.ForeignKey(
        "tenancy.Merchant", verbose_name=_("merchant"), on_delete=models.CASCADE, related_name="+"
    )
    job = models.ForeignKey(
        ExportJob, verbose_name=_("export"), on_delete=models.SET_NULL, null=True, related_name="downloads"
    )
    title = models.CharField(_("title"), max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("downloaded by"), on_delete=models.PROTECT, related_name="+"
    )
    downloaded_at = models.DateTimeField(_("downloaded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("export download")
        verbose_name_plural = _("export downloads")

    def __str__(self) -> str:
        return f"{self.title} ({self.downloaded_at:%Y-%m-%d %H:%M})"
