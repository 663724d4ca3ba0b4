"""What the ledger app grants each default role (B1)."""

GRANTS: dict[str, tuple[str, ...]] = {
    "merchant_admin": ("ledger.view_account", "ledger.view_entry", "ledger.export_entry", "ledger.view_lot"),
    "store_manager": ("ledger.view_account", "ledger.view_entry", "ledger.export_entry"),
    "cashier": ("ledger.view_account", "ledger.view_entry"),
    "marketing": ("ledger.view_account",),
    "finance": ("ledger.view_account", "ledger.view_entry", "ledger.export_entry", "ledger.view_lot"),
}
