"""What the portal app grants each default role (B1): the widget's settings are the merchant admin's, and
so are the list of login codes the SMS provider did not send and what members may do in the portal."""

GRANTS: dict[str, tuple[str, ...]] = {
    "merchant_admin": (
        "portal.view_widgetsettings",
        "portal.change_widgetsettings",
        "portal.add_widgetsettings",
        "portal.view_codesendfailure",
        "portal.view_portalsettings",
        "portal.change_portalsettings",
        "portal.add_portalsettings",
    ),
}
