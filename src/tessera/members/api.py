"""Member endpoints of the public API: lookup by phone, read, register, edit the profile (C1, C2)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router

from tessera.core.errors import NotFound, PermissionDenied, ValidationFailed
from tessera.core.idempotency import idempotent, key_header
from tessera.core.limits import MAX_TAGS, MIN_BIRTH_YEAR, Id
from tessera.core.problem import ERRORS
from tessera.core.schemas import Schema
from tessera.members import services
from tessera.members.models import Gender, Member, MemberStatus
from tessera.members.schemas import Birthday
from tessera.members.selectors import find_member_by_phone
from tessera.tenancy.auth import ApiKeyAuth, ApiRequest
from tessera.tenancy.models import Scope, Store

router = Router(tags=["members"], auth=ApiKeyAuth(Scope.POS, Scope.INTEGRATION, Scope.ADMIN))


class MemberOut(Schema):
    id: int
    phone: str | None = Field(description="E.164; null once the member's data was erased (C5).")
    status: MemberStatus
    full_name: str
    email: str
    address: str
    region: str
    birthday: date | None
    gender: Gender
    occupation: str
    id_number: str
    hobbies: str
    preferences: str = Field(description="Preferences and special needs, to show the cashier (C1).")
    notes: str
    tags: list[str]
    home_store_id: int | None
    marketing_sms: bool
    marketing_email: bool
    is_current: bool = Field(description="False for an account replaced after a phone change, or erased.")
    superseded_by_id: int | None = Field(description="The account that replaced this one (C3).")
    has_pin: bool
    created_at: datetime

    @staticmethod
    def from_member(member: Member) -> MemberOut:
        return MemberOut(
            id=member.pk,
            phone=str(member.phone) if member.phone else None,
            status=MemberStatus(member.status),
            full_name=member.full_name,
            email=member.email,
            address=member.address,
            region=member.region,
            birthday=member.birthday,
            gender=Gender(member.gender),
            occupation=member.occupation,
            id_number=member.id_number,
            hobbies=member.hobbies,
            preferences=member.preferences,
            notes=member.notes,
            tags=[tag.name for tag in member.tags.all()],
            home_store_id=member.home_store_id,
            marketing_sms=member.marketing_sms,
            marketing_email=member.marketing_email,
            is_current=member.is_current,
            superseded_by_id=member.superseded_by_id,
            has_pin=bool(member.pin_hash),
            created_at=member.created_at,
        )


class ProfileIn(Schema):
    full_name: str = Field("", max_length=200)
    email: str = Field("", max_length=254)
    address: str = Field("", max_length=300)
    region: str = Field("", max_length=100)
    birthday: Birthday | None = Field(None, description=f"From {MIN_BIRTH_YEAR}-01-01 up to today.")
    gender: Gender = Gender.UNSPECIFIED
    occupation: str = Field("", max_length=100)
    id_number: str = Field("", max_length=30)
    hobbies: str = ""
    preferences: str = ""
    notes: str = ""
    tags: list[Annotated[str, Field(max_length=60)]] = Field(
        default_factory=list,
        max_length=MAX_TAGS,
        description=f"Tag names; unknown names become tags. At most {MAX_TAGS}.",
    )
    home_store_id: Id | None = None
    marketing_sms: bool = False
    marketing_email: bool = False


class MemberIn(ProfileIn):
    phone: str = Field(description="Any common format; local numbers are read in the merchant's country.")
    referral_code: str = Field(
        "",
        max_length=20,
        description="The code of the member who brought this one in (422 `referral_code_not_found`).",
    )


class MemberPatch(ProfileIn):
    """Only the fields sent are changed. The phone cannot be changed here (C3): sending it is a 422."""

    phone: str | None = None


def _profile(request: ApiRequest, data: ProfileIn, *, only_sent: bool) -> dict[str, Any]:
    fields = data.model_dump(exclude_unset=only_sent, exclude={"phone"})
    if "home_store_id" in fields:
        store_id = fields.pop("home_store_id")
        store = None
        own = request.auth.store
        if own is not None and store_id not in (None, own.pk):
            # A till's key acts in its own store only (docs/pos-api.md), as with `store_code` in sales.
            raise PermissionDenied(_("This API key acts only in its own store."), code="store_mismatch")
        if store_id is not None:
            store = Store.objects.of(request.auth.merchant).filter(pk=store_id).first()
            if store is None:
                raise ValidationFailed(_("Unknown store."), code="unknown_store")
        fields["home_store"] = store
    return fields


def _member(request: ApiRequest, member_id: int) -> Member:
    """The request merchant's member; another merchant's id is simply not found."""
    member = Member.objects.of(request.auth.merchant).prefetch_related("tags").filter(pk=member_id).first()
    if member is None:
        raise NotFound(_("No such member."), code="member_not_found")
    return member


@router.get("", response={200: MemberOut, **ERRORS}, summary="Find the member with a phone")
def lookup_member(request: ApiRequest, phone: str) -> MemberOut:
    """The current account for `phone`, in any common format (an old account after a phone change is
    not returned). A 404 `member_not_found` when nobody has it."""
    member = find_member_by_phone(merchant=request.auth.merchant, phone=phone)
    if member is None:
        raise NotFound(_("No member has this phone."), code="member_not_found")
    return MemberOut.from_member(member)


@router.get("/{member_id}", response={200: MemberOut, **ERRORS}, summary="Read a member")
def get_member(request: ApiRequest, member_id: int) -> MemberOut:
    return MemberOut.from_member(_member(request, member_id))


@router.post("", response={201: MemberOut, **ERRORS}, summary="Register a member")
def create_member(request: ApiRequest, data: MemberIn, idempotency_key: str = key_header()) -> HttpResponse:
    """Registers at the key's store. Active at once, or `not_activated` when the merchant activates
    members by hand (C2). 409 `phone_taken` when a member already has the phone."""

    def work() -> tuple[int, MemberOut]:
        fields = _profile(request, data, only_sent=False)
        fields.pop("referral_code")
        if fields["home_store"] is None:
            del fields["home_store"]  # the key's store becomes the home store
        member = services.register_member(
            merchant=request.auth.merchant,
            phone=data.phone,
            store=request.auth.store,
            referral_code=data.referral_code,
            **fields,
        )
        return 201, MemberOut.from_member(member)

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


@router.patch("/{member_id}", response={200: MemberOut, **ERRORS}, summary="Change a member's profile")
def update_member(request: ApiRequest, member_id: int, data: MemberPatch) -> MemberOut:
    fields = _profile(request, data, only_sent=True)
    if "phone" in data.model_fields_set:
        fields["phone"] = data.phone  # refused by the service, with its reason
    member = services.update_member_profile(member=_member(request, member_id), **fields)
    return MemberOut.from_member(member)
