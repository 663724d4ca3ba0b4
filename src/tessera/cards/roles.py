"""What the cards app grants each default role (B1, D4: each issuance step is a different role's)."""

GRANTS: dict[str, tuple[str, ...]] = {
    "merchant_admin": ("cards.*",),
    "finance": (
        "cards.view_cardtype",
        "cards.view_cardbatch",
        "cards.add_cardbatch",
        "cards.export_cardbatch",
        "cards.view_card",
        "cards.export_card",
        "cards.initialise_card",
        "cards.confirm_card",
        "cards.view_cardevent",
    ),
    "store_manager": (
        "cards.view_cardtype",
        "cards.view_cardbatch",
        "cards.view_card",
        "cards.assign_card",
        "cards.sell_card",
        "cards.confirm_card",
        "cards.activate_card",
        "cards.manage_card_lifecycle",
        "cards.view_cardevent",
    ),
    "cashier": ("cards.view_cardtype", "cards.view_card", "cards.sell_card", "cards.activate_card"),
    "marketing": ("cards.view_cardtype", "cards.view_card"),
}
