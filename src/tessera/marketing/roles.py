"""What the marketing app grants each default role (B1): marketing runs campaigns and templates; the
merchant admin also sets the channels (provider credentials); others may look at most."""

GRANTS: dict[str, tuple[str, ...]] = {
    "merchant_admin": ("marketing.*",),
    "marketing": (
        "marketing.*messagetemplate",
        "marketing.*campaign",
        "marketing.send_campaign",
        "marketing.*noticerule",
        "marketing.*holiday",
        "marketing.view_message",
        "marketing.add_message",
        "marketing.change_message",
        "marketing.view_channelsettings",
    ),
    "store_manager": ("marketing.view_campaign", "marketing.view_message"),
    "finance": ("marketing.view_campaign", "marketing.view_message"),
}
