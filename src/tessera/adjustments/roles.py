"""What the adjustments app grants each default role (B1)."""

GRANTS: dict[str, tuple[str, ...]] = {
    "merchant_admin": ("adjustments.*",),
    "store_manager": (
        "adjustments.view_adjustmentvoucher",
        "adjustments.add_adjustmentvoucher",
        "adjustments.change_adjustmentvoucher",
    ),
    "finance": ("adjustments.view_adjustmentvoucher",),
}
