"""What the earning rules app grants each default role (B1)."""

GRANTS: dict[str, tuple[str, ...]] = {
    "merchant_admin": ("rules.*",),
    "store_manager": ("rules.view_earningrule", "rules.view_earningruleversion"),
    "cashier": ("rules.view_earningrule",),
    "marketing": ("rules.*earningrule", "rules.view_earningruleversion"),
    "finance": ("rules.view_earningrule", "rules.view_earningruleversion"),
}
