"""Adjustment vouchers through the management API (issue 17, F2): create, read, apply, cancel.

The same form and services as the back office: a voucher is built by `VoucherForm` from the payload
(members by phone or a segment, the same points and/or tier for each; the same messages), saved pending
by `create_voucher`, applied by `apply_voucher` — points first, then tiers, all or nothing.

A key acts for the staff member who made it (`tenancy.history.key_actor`): the voucher's creator and
applier are that person, checked against their own permissions. With four-eyes approval switched on,
applying is a person's step: a key made by no person is refused (403 `key_without_person`), and the
person who created the voucher — by key or in the back office — cannot apply it (403 `four_eyes`).
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router
from ninja.pagination import LimitOffsetPagination, paginate

from tessera.adjustments import services
from tessera.adjustments.forms import VoucherForm
from tessera.adjustments.models import AdjustmentSettings, AdjustmentVoucher, VoucherStatus
from tessera.core.api_forms import body_example, one_of, valid_or_refuse
from tessera.core.errors import NotFound
from tessera.core.idempotency import idempotent, key_header
from tessera.core.limits import Id
from tessera.core.problem import ERRORS
from tessera.core.schemas import Schema
from tessera.tenancy.auth import ApiKeyAuth, ApiRequest
from tessera.tenancy.history import acting_for, key_actor, key_person
from tessera.tenancy.models import Scope

router = Router(tags=["adjustment vouchers"], auth=ApiKeyAuth(Scope.ADMIN))


class VoucherLineOut(Schema):
    member_id: int
    points: int = Field(description="Positive adds, negative takes.")
    reason: str
    target_tier_id: int | None
    entry_id: int | None = Field(description="The ledger entry, once applied.")
    tier_change_id: int | None


class VoucherOut(Schema):
    id: int
    code: str
    note: str
    tags: list[str]
    status: VoucherStatus
    created_at: datetime
    applied_at: datetime | None
    cancelled_at: datetime | None
    lines: list[VoucherLineOut]

    @staticmethod
    def of(voucher: AdjustmentVoucher) -> VoucherOut:
        return VoucherOut(
            id=voucher.pk,
            code=voucher.code,
            note=voucher.note,
            tags=voucher.tag_list,
            status=VoucherStatus(voucher.status),
            created_at=voucher.created_at,
            applied_at=voucher.applied_at,
            cancelled_at=voucher.cancelled_at,
            lines=[
                VoucherLineOut(
                    member_id=line.member_id,
                    points=line.points,
                    reason=line.reason,
                    target_tier_id=line.target_tier_id,
                    entry_id=line.entry_id,
                    tier_change_id=line.tier_change_id,
                )
                for line in voucher.lines.order_by("pk")
            ],
        )


class VoucherIn(Schema):
    """As the back office's voucher page: members by phone and/or a segment, one change for each."""

    phones: list[str] = Field(default_factory=list, description="The members' phones, as staff type them.")
    segment_id: int | None = Field(None, description="Or (and) every member of this segment.")
    points: int = Field(0, description="Positive adds, negative takes.")
    reason: str = ""
    target_tier_id: int | None = Field(None, description="Set each member's tier to this one.")
    code: str = Field("", description="Left blank, a code is generated.")
    note: str = ""
    tags: str = Field("", description="Separated by commas.")


#: ninja's `paginate` reads the annotations where this module's names are unknown: a plain `str`, checked.
_STATUS = Query(
    None, pattern=f"^({'|'.join(VoucherStatus.values)})$", description="Only vouchers in this status."
)


def _voucher(request: ApiRequest, voucher_id: int) -> AdjustmentVoucher:
    missing = NotFound(_("No such adjustment voucher."), code="voucher_not_found")
    return one_of(AdjustmentVoucher.objects.of(request.auth.merchant), voucher_id, missing=missing)


@router.get(
    "",
    response={200: list[VoucherOut], **ERRORS},
    operation_id="listAdjustmentVouchers",
    summary="List adjustment vouchers",
    description="Newest first; `status` filters. Paginated: `limit` (default 100) and `offset`; the answer "
    "has `items` and `count`.",
)
@paginate(LimitOffsetPagination)
def list_vouchers(request: ApiRequest, status: str | None = _STATUS) -> list[VoucherOut]:
    vouchers = AdjustmentVoucher.objects.of(request.auth.merchant).prefetch_related("lines")
    if status is not None:
        vouchers = vouchers.filter(status=status)
    return [VoucherOut.of(v) for v in vouchers]


@router.post(
    "",
    response={201: VoucherOut, **ERRORS},
    operation_id="createAdjustmentVoucher",
    summary="Create a pending adjustment voucher",
    description="Checked by the back office's voucher form (422 `invalid_fields`, its messages). Nothing "
    "changes until the voucher is applied.",
    openapi_extra=body_example(
        {"phones": ["0903 123 456"], "points": 500, "reason": "Apology for a late order", "tags": "service"}
    ),
)
def create_voucher(
    request: ApiRequest, payload: VoucherIn, idempotency_key: str = key_header()
) -> HttpResponse:
    merchant = request.auth.merchant

    def work() -> tuple[int, VoucherOut]:
        data = payload.model_dump(exclude={"phones", "segment_id", "target_tier_id"}) | {
            "phones": "\n".join(payload.phones),
            "segment": payload.segment_id,
            "target_tier": payload.target_tier_id,
        }
        form = type("ApiVoucherForm", (VoucherForm,), {"merchant": merchant})(data=data)
        cleaned = valid_or_refuse(form)
        with acting_for(request.auth.key, key_actor(request.auth.key)) as actor:
            voucher = services.create_voucher(
                merchant=merchant,
                lines=form.lines,
                code=cleaned.get("code") or "",
                note=cleaned.get("note") or "",
                tags=(cleaned.get("tags") or "").split(","),
                actor=actor,
            )
        return 201, VoucherOut.of(voucher)

    return idempotent(request, merchant=merchant, key=idempotency_key, work=work)


@router.get(
    "/{voucher_id}",
    response={200: VoucherOut, **ERRORS},
    operation_id="getAdjustmentVoucher",
    summary="Read an adjustment voucher",
)
def get_voucher(request: ApiRequest, voucher_id: Id) -> VoucherOut:
    return VoucherOut.of(_voucher(request, voucher_id))


@router.post(
    "/{voucher_id}/apply",
    response={200: VoucherOut, **ERRORS},
    operation_id="applyAdjustmentVoucher",
    summary="Apply (\u201cadjust\u201d) a pending voucher",
    description="Points first, then tiers; if one member lacks the points, nothing is applied (409 "
    "`insufficient_balance`). Not pending: 409 `not_pending`. Applied for the staff member who made the "
    "key, with their permissions (403 `permission_denied`, `key_person_inactive`). Under four-eyes "
    "approval this is the approval: a key made by no person answers 403 `key_without_person`, and the "
    "voucher's creator (by key or in the back office) 403 `four_eyes`. No body.",
)
def apply_voucher(request: ApiRequest, voucher_id: Id, idempotency_key: str = key_header()) -> HttpResponse:
    def work() -> tuple[int, VoucherOut]:
        key = request.auth.key
        four_eyes = AdjustmentSettings.for_merchant(request.auth.merchant.pk).four_eyes
        with acting_for(key, key_person(key) if four_eyes else key_actor(key)) as actor:
            voucher = services.apply_voucher(voucher=_voucher(request, voucher_id), actor=actor)
            return 200, VoucherOut.of(voucher)

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


@router.post(
    "/{voucher_id}/cancel",
    response={200: VoucherOut, **ERRORS},
    operation_id="cancelAdjustmentVoucher",
    summary="Cancel a pending voucher",
    description="A cancelled voucher can never be applied. No body.",
)
def cancel_voucher(request: ApiRequest, voucher_id: Id, idempotency_key: str = key_header()) -> HttpResponse:
    def work() -> tuple[int, VoucherOut]:
        with acting_for(request.auth.key, key_actor(request.auth.key)) as actor:
            return 200, VoucherOut.of(
                services.cancel_voucher(voucher=_voucher(request, voucher_id), actor=actor)
            )

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)
