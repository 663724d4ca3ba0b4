"""What the members app grants each default role (B1)."""

GRANTS: dict[str, tuple[str, ...]] = {
    "merchant_admin": ("members.*",),
    "store_manager": (
        "members.view_member",
        "members.add_member",
        "members.change_member",
        "members.activate_member",
        "members.exclude_member",
        "members.reactivate_member",
        "members.change_member_phone",
        "members.export_member",
        "members.view_tag",
        "members.add_tag",
        "members.view_segment",
        "members.view_anniversary",
        "members.add_anniversary",
        "members.change_anniversary",
    ),
    "cashier": (
        "members.view_member",
        "members.add_member",
        "members.change_member",
        "members.activate_member",
        "members.view_tag",
        "members.view_anniversary",
        "members.add_anniversary",
    ),
    "marketing": (
        "members.view_member",
        "members.export_member",
        "members.*segment",
        "members.*tag",
        "members.view_anniversary",
    ),
    "finance": ("members.view_member", "members.export_member", "members.view_segment"),
}
