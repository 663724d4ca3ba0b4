"""The reports part of the public API: each report's tables as JSON (J1–J5, J7, A3).

A store-bound API key sees its store's figures only; a merchant-wide key sees every store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from django.utils.translation import gettext_lazy as _
from ninja import Query, Router
from pydantic import Field

from tessera.core.errors import ValidationFailed
from tessera.core.limits import Id
from tessera.core.problem import ERRORS
from tessera.core.schemas import Schema
from tessera.reports.forms import MAX_DAYS
from tessera.reports.selectors import REPORTS, Filters, ReportScope, ReportSpec
from tessera.tenancy.auth import ApiKeyAuth, ApiRequest
from tessera.tenancy.models import Scope

router = Router(tags=["reports"], auth=ApiKeyAuth(Scope.POS, Scope.INTEGRATION, Scope.ADMIN))


class ColumnOut(Schema):
    title: str
    kind: str = Field(description="text, int, money (minor units), points, date, datetime or percent.")


class TableOut(Schema):
    key: str
    title: str
    columns: list[ColumnOut]
    rows: list[list[Any]]


class ReportOut(Schema):
    key: str
    title: str
    start: date
    end: date
    tables: list[TableOut]
    notes: list[str]


class ReportQuery(Schema):
    start: date | None = Field(
        None, description="First day (the merchant's calendar); default: the 1st of this month."
    )
    end: date | None = Field(
        None,
        description="Last day, included; default: today. The period rule: `end` is not before `start` "
        f"(422 `invalid_period`) and at most {MAX_DAYS} days after it (422 `period_too_long`).",
    )
    stores: list[int] = Field(
        default_factory=list, description="Store ids; default: every store the key may see."
    )
    card_type: Id | None = Field(None, description="Transactions report only: one card type.")


def _run(request: ApiRequest, spec: ReportSpec, query: ReportQuery) -> ReportOut:
    merchant = request.auth.merchant
    store = request.auth.store
    scope = ReportScope(merchant, (store.pk,) if store is not None else None)
    today = scope.today()
    start, end = query.start or today.replace(day=1), query.end or today
    if start > end:
        raise ValidationFailed(_("The start date must not be after the end date."), code="invalid_period")
    if (end - start).days > MAX_DAYS:
        raise ValidationFailed(_("A report covers at most ten years."), code="period_too_long")
    filters = Filters(start=start, end=end, store_ids=tuple(query.stores), card_type_id=query.card_type)
    report = spec.build(scope, filters)
    return ReportOut(
        key=report.key,
        title=report.title,
        start=start,
        end=end,
        tables=[
            TableOut(
                key=t.key,
                title=t.title,
                columns=[ColumnOut(title=c.title, kind=c.kind) for c in t.columns],
                rows=[list(row) for row in t.rows],
            )
            for t in report.tables
        ],
        notes=[str(n) for n in report.notes],
    )


def _endpoint(spec: ReportSpec) -> Callable[..., ReportOut]:
    def view(request: ApiRequest, query: Query[ReportQuery]) -> ReportOut:
        return _run(request, spec, query)

    view.__name__ = f"report_{spec.key}"
    view.__doc__ = str(spec.description)
    return view


for _spec in REPORTS.values():
    router.get(
        f"/{_spec.key.replace('_', '-')}",
        response={200: ReportOut, **ERRORS},
        summary=f"Report: {_spec.title}",
        operation_id=f"report_{_spec.key}",
    )(_endpoint(_spec))
