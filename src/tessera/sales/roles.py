"""What the sales app grants each default role (B1)."""

GRANTS: dict[str, tuple[str, ...]] = {
    "merchant_admin": ("sales.*",),
    "store_manager": (
        "sales.view_transaction",
        "sales.add_transaction",
        "sales.confirm_transaction",
        "sales.void_transaction",
        "sales.refund_transaction",
        "sales.add_points",
        "sales.deduct_points",
        "sales.transfer_points",
        "sales.export_transaction",
        "sales.view_refund",
        "sales.view_salessettings",
        "sales.view_storeconfirmation",
    ),
    "cashier": (
        "sales.view_transaction",
        "sales.add_transaction",
        "sales.confirm_transaction",
        "sales.add_points",
        "sales.view_refund",
    ),
    "finance": (
        "sales.view_transaction",
        "sales.export_transaction",
        "sales.view_refund",
        "sales.view_salessettings",
        "sales.view_storeconfirmation",
    ),
}
