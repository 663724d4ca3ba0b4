"""What the tiers app grants each default role (B1)."""

GRANTS: dict[str, tuple[str, ...]] = {
    "merchant_admin": ("tiers.*",),
    "store_manager": (
        "tiers.view_tierprogram",
        "tiers.view_tier",
        "tiers.view_membertier",
        "tiers.view_tierchange",
    ),
    "cashier": ("tiers.view_tier", "tiers.view_membertier"),
    "marketing": ("tiers.view_tier", "tiers.view_membertier", "tiers.view_tierchange"),
    "finance": (
        "tiers.view_tierprogram",
        "tiers.view_tier",
        "tiers.view_membertier",
        "tiers.view_tierchange",
    ),
}
