"""The marketing part of the public API: send one message to a member, and read a message's status
(I1, I2). A message sent here is traced like any other: trigger `api`, with the caller's reference."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router

from tessera.core.errors import NotFound
from tessera.core.idempotency import idempotent, key_header
from tessera.core.limits import Id
from tessera.core.problem import ERRORS
from tessera.core.schemas import Schema
from tessera.marketing import services
from tessera.marketing.models import ChannelKind, Message, MessageStatus, MessageTemplate, Trigger
from tessera.members.models import Member
from tessera.tenancy.auth import ApiKeyAuth, ApiRequest
from tessera.tenancy.models import Scope

router = Router(tags=["marketing"], auth=ApiKeyAuth(Scope.POS, Scope.INTEGRATION, Scope.ADMIN))


class MessageOut(Schema):
    id: int
    member_id: int | None
    channel: ChannelKind
    status: MessageStatus = Field(
        description="queued, sending, sent, delivered, failed, skipped_no_consent, skipped_no_address, "
        "cancelled."
    )
    error: str
    parts: int = Field(description="SMS parts billed (0 for email).")
    trigger: Trigger
    trigger_ref: str
    campaign_id: int | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None

    @staticmethod
    def of(message: Message) -> MessageOut:
        return MessageOut(
            id=message.pk,
            member_id=message.member_id,
            channel=ChannelKind(message.channel),
            status=MessageStatus(message.status),
            error=message.error,
            parts=message.parts,
            trigger=Trigger(message.trigger),
            trigger_ref=message.trigger_ref,
            campaign_id=message.campaign_id,
            created_at=message.created_at,
            sent_at=message.sent_at,
            delivered_at=message.delivered_at,
            failed_at=message.failed_at,
        )


class SendIn(Schema):
    member_id: Id
    template_id: Id
    purpose: Literal["service", "marketing"] = Field(
        "service",
        description="`marketing` needs the member's consent for the channel; `service` (about the "
        "member's own account) does not.",
    )
    code: str = Field("", max_length=60, description="The value of {{ code }}.")
    reference: str = Field(
        "",
        max_length=100,
        description="Your reference: a member gets at most one message per template channel and reference.",
    )

    model_config = {
        "json_schema_extra": {"examples": [{"member_id": 1, "template_id": 1, "purpose": "service"}]}
    }


@router.post("/messages", response={202: MessageOut, **ERRORS}, summary="Send a message to a member")
def send_message(request: ApiRequest, data: SendIn, idempotency_key: str = key_header()) -> HttpResponse:
    """Queued at once and sent at the channel's rate; `skipped_no_consent` when a marketing message
    lacks the member's consent (I4). Poll `GET /marketing/messages/{id}` for delivery."""
    merchant_id = request.auth.merchant.pk

    def work() -> tuple[int, MessageOut]:
        member = Member.objects.of(merchant_id).select_related("merchant").filter(pk=data.member_id).first()
        if member is None:
            raise NotFound(_("No such member."), code="member_not_found")
        template = MessageTemplate.objects.of(merchant_id).filter(pk=data.template_id).first()
        if template is None:
            raise NotFound(_("No such template."), code="template_not_found")
        message = services.send_to_member(
            member=member,
            template=template,
            trigger=Trigger.API,
            trigger_ref=data.reference.strip(),
            marketing=data.purpose == "marketing",
            variables={"code": data.code} if data.code else None,
        )
        return 202, MessageOut.of(message)

    response = idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)
    if response.status_code == 202:
        from tessera.marketing.tasks import drain_task

        drain_task(merchant_id)
    return response


@router.get("/messages/{message_id}", response={200: MessageOut, **ERRORS}, summary="A message's status")
def get_message(request: ApiRequest, message_id: int) -> MessageOut:
    message = Message.objects.of(request.auth.merchant).filter(pk=message_id).first()
    if message is None:
        raise NotFound(_("No such message."), code="message_not_found")
    return MessageOut.of(message)
