"""Side effects the writers need not know about: notices after domain events (I3), and forgetting an
erased member's message addresses and texts (C5)."""

from __future__ import annotations

from typing import Any

from tessera.marketing import services
from tessera.members.models import Member

#: The domain events that may call for a notice.
NOTICE_EVENTS = frozenset({"sale.confirmed", "sale.voided", "sale.refunded", "member.tier_changed"})


def on_event_published(
    sender: Any, *, merchant_id: int, type: str, payload: dict[str, Any], **kwargs: Any
) -> None:
    if type not in NOTICE_EVENTS:
        return
    from tessera.marketing.tasks import notify_event_task

    if has_active_notice_rules(merchant_id):
        notify_event_task(merchant_id, type, payload)


def has_active_notice_rules(merchant_id: int) -> bool:
    """Whether any notice rule of the merchant is on: asked after every sale, void and refund, so it is
    read from the configuration cache (`tenancy.config`; MarketingConfig.ready renews it on change)."""
    from tessera.marketing.models import NoticeRule
    from tessera.tenancy import config

    return config.cached(
        merchant_id,
        "marketing.notices_active",
        lambda: NoticeRule.objects.of(merchant_id).filter(is_active=True).exists(),
    )


def on_member_saved(sender: Any, instance: Member, **kwargs: Any) -> None:
    if instance.erased_at is not None:
        services.forget_member(member_id=instance.pk)
