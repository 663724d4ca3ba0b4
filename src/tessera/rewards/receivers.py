"""The members app's announcements, turned into sign-up and profile bonuses (`rewards.bonuses`).

Connected in `RewardsConfig.ready`. They run inside the member's registration or change, so the
bonus commits or rolls back with it; with no such rule in force they read only the (cached) rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tessera.members.models import Member
from tessera.rewards import bonuses


def member_registered(sender: type[Member], member: Member, now: datetime, **_kwargs: Any) -> None:
    bonuses.on_registered(member=member, now=now)


def member_profile_changed(sender: type[Member], member: Member, now: datetime, **_kwargs: Any) -> None:
    bonuses.on_profile_changed(member=member, now=now)
