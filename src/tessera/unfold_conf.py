"""The back office's look and navigation (django-unfold)."""

from django.http import HttpRequest
from django.templatetags.static import static
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _


def _can(perm: str):  # type: ignore[no-untyped-def]
    return lambda request: request.user.has_perm(perm)


def _workplace(request: HttpRequest) -> str:
    """Under the logo: whose back office this is, so staff of two merchants never confuse them."""
    staff = getattr(request, "staff", None)
    if staff is not None:
        return str(staff.merchant.name)
    return str(_("Platform operator")) if request.user.is_superuser else ""


UNFOLD = {
    "SITE_TITLE": "Tessera",
    "SITE_HEADER": "Tessera",
    "SITE_SUBHEADER": _workplace,
    "SITE_SYMBOL": "loyalty",
    "SHOW_LANGUAGES": True,
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "STYLES": [lambda request: static("tessera/admin.css")],
    "COLORS": {
        "primary": {
            "50": "240 253 250",
            "100": "204 251 241",
            "200": "153 246 228",
            "300": "94 234 212",
            "400": "45 212 191",
            "500": "20 184 166",
            "600": "13 148 136",
            "700": "15 118 110",
            "800": "17 94 89",
            "900": "19 78 74",
            "950": "4 47 46",
        },
    },
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": False,
        "navigation": [
            {
                "title": _("Members"),
                "items": [
                    {
                        "title": _("Members"),
                        "icon": "group",
                        "link": reverse_lazy("admin:members_member_changelist"),
                        "permission": _can("members.view_member"),
                    },
                    {
                        "title": _("Segments"),
                        "icon": "filter_alt",
                        "link": reverse_lazy("admin:members_segment_changelist"),
                        "permission": _can("members.view_segment"),
                    },
                    {
                        "title": _("Tags"),
                        "icon": "sell",
                        "link": reverse_lazy("admin:members_tag_changelist"),
                        "permission": _can("members.view_tag"),
                    },
                ],
            },
            {
                "title": _("Sales and points"),
                "items": [
                    {
                        "title": _("Transactions"),
                        "icon": "point_of_sale",
                        "link": reverse_lazy("admin:sales_transaction_changelist"),
                        "permission": _can("sales.view_transaction"),
                    },
                    {
                        "title": _("Add points"),
                        "icon": "add_circle",
                        "link": reverse_lazy("admin:sales_add_points"),
                        "permission": _can("sales.add_points"),
                    },
                    {
                        "title": _("Deduct points"),
                        "icon": "remove_circle",
                        "link": reverse_lazy("admin:sales_deduct_points"),
                        "permission": _can("sales.deduct_points"),
                    },
                    {
                        "title": _("Accounts"),
                        "icon": "account_balance_wallet",
                        "link": reverse_lazy("admin:ledger_account_changelist"),
                        "permission": _can("ledger.view_account"),
                    },
                    {
                        "title": _("Ledger entries"),
                        "icon": "receipt_long",
                        "link": reverse_lazy("admin:ledger_entry_changelist"),
                        "permission": _can("ledger.view_entry"),
                    },
                    {
                        "title": _("Sales settings"),
                        "icon": "tune",
                        "link": reverse_lazy("admin:sales_salessettings_changelist"),
                        "permission": _can("sales.view_salessettings"),
                    },
                ],
            },
            {
                "title": _("Cards"),
                "items": [
                    {
                        "title": _("Cards"),
                        "icon": "credit_card",
                        "link": reverse_lazy("admin:cards_card_changelist"),
                        "permission": _can("cards.view_card"),
                    },
                    {
                        "title": _("Card batches"),
                        "icon": "inventory_2",
                        "link": reverse_lazy("admin:cards_cardbatch_changelist"),
                        "permission": _can("cards.view_cardbatch"),
                    },
                    {
                        "title": _("Card types"),
                        "icon": "style",
                        "link": reverse_lazy("admin:cards_cardtype_changelist"),
                        "permission": _can("cards.view_cardtype"),
                    },
                ],
            },
            {
                "title": _("Organisation"),
                "items": [
                    {
                        "title": _("Merchants"),
                        "icon": "storefront",
                        "link": reverse_lazy("admin:tenancy_merchant_changelist"),
                        "permission": _can("tenancy.view_merchant"),
                    },
                    {
                        "title": _("Stores"),
                        "icon": "store",
                        "link": reverse_lazy("admin:tenancy_store_changelist"),
                        "permission": _can("tenancy.view_store"),
                    },
                    {
                        "title": _("Staff"),
                        "icon": "badge",
                        "link": reverse_lazy("admin:tenancy_staffmembership_changelist"),
                        "permission": _can("tenancy.view_staffmembership"),
                    },
                    {
                        "title": _("Roles"),
                        "icon": "admin_panel_settings",
                        "link": reverse_lazy("admin:tenancy_role_changelist"),
                        "permission": _can("tenancy.view_role"),
                    },
                    {
                        "title": _("API keys"),
                        "icon": "key",
                        "link": reverse_lazy("admin:tenancy_apikey_changelist"),
                        "permission": _can("tenancy.view_apikey"),
                    },
                ],
            },
        ],
    },
}
