"""What the rewards app grants each default role (B1).

Top-ups (`sales.TopUp`, E6) are recorded by the sales app but belong to stored value, which this app's
bonus rules drive; their grants are kept here, beside the bonus rules'."""

GRANTS: dict[str, tuple[str, ...]] = {
    "merchant_admin": ("rewards.*", "sales.view_topup", "sales.add_topup"),
    "store_manager": (
        "rewards.view_gift",
        "rewards.view_giftredemption",
        "rewards.add_giftredemption",
        "rewards.fulfil_giftredemption",
        "rewards.cancel_giftredemption",
        "rewards.view_promocodeoffer",
        "rewards.view_promocode",
        "rewards.add_promocode",
        "rewards.consume_promocode",
        "rewards.cancel_promocode",
        "rewards.view_promocodeuse",
        "rewards.view_topupbonusrule",
        "rewards.view_bonusrule",
        "rewards.view_bonusgrant",
        "sales.view_topup",
        "sales.add_topup",
    ),
    "cashier": (
        "rewards.view_gift",
        "rewards.view_giftredemption",
        "rewards.add_giftredemption",
        "rewards.fulfil_giftredemption",
        "rewards.view_promocodeoffer",
        "rewards.view_promocode",
        "rewards.add_promocode",
        "rewards.consume_promocode",
        "sales.view_topup",
        "sales.add_topup",
    ),
    "marketing": (
        "rewards.*gift",
        "rewards.*promocodeoffer",
        "rewards.*topupbonusrule",
        "rewards.*bonusrule",
        "rewards.view_bonusgrant",
        "rewards.view_giftredemption",
        "rewards.view_promocode",
        "rewards.view_promocodeuse",
    ),
    "finance": (
        "rewards.view_gift",
        "rewards.view_giftredemption",
        "rewards.view_promocodeoffer",
        "rewards.view_promocode",
        "rewards.view_promocodeuse",
        "rewards.view_topupbonusrule",
        "rewards.view_bonusrule",
        "rewards.view_bonusgrant",
        "sales.view_topup",
    ),
}
