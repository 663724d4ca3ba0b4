"""A merchant's look in the portal and the widget: logo and colours, as CSS variables (G1)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tessera.tenancy.models import Merchant

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class Branding:
    name: str
    logo_url: str
    primary: str
    accent: str


def _colour(value: str, default: str) -> str:
    # The model validates colours in forms; a row written another way must still not break the CSS.
    return value if _COLOUR.match(value or "") else default


def branding(merchant: Merchant) -> Branding:
    return Branding(
        name=merchant.name,
        logo_url=merchant.logo.url if merchant.logo else "",
        primary=_colour(merchant.primary_color, "#0f766e"),
        accent=_colour(merchant.accent_color, "#f59e0b"),
    )
