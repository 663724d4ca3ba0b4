"""What the points app grants each default role (B1)."""

GRANTS: dict[str, tuple[str, ...]] = {
    "merchant_admin": ("points.view_policy", "points.change_policy"),
    "store_manager": ("points.view_policy",),
    "finance": ("points.view_policy",),
}
