"""What the imports app grants each default role (B1). An import writes members and opening balances
for the whole merchant, so only merchant admins run one; store managers may follow them."""

GRANTS: dict[str, tuple[str, ...]] = {
    "merchant_admin": ("imports.*",),
    "store_manager": ("imports.view_importjob",),
}
