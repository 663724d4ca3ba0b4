"""The back office's look and navigation (django-unfold)."""

from typing import Any

from django.http import HttpRequest
from django.templatetags.static import static
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _


def _item(title: Any, icon: str, url_name: str, permission: str | None) -> dict[str, Any]:
    """A sidebar link, shown only to users who hold `permission` (None: every signed-in user)."""
    item: dict[str, Any] = {"title": title, "icon": icon, "link": reverse_lazy(url_name)}
    if permission:
        item["permission"] = lambda request: request.user.has_perm(permission)
    return item


def _section(title: Any, *items: dict[str, Any]) -> dict[str, Any]:
    return {"title": title, "items": list(items)}


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
    "SITE_FAVICONS": [
        {"rel": "icon", "type": "image/svg+xml", "href": lambda request: static("tessera/favicon.svg")}
    ],
    "SHOW_LANGUAGES": True,
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "STYLES": [lambda request: static("tessera/admin.css")],
    "SCRIPTS": [lambda request: static("tessera/icons.js")],
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
    "DASHBOARD_CALLBACK": "tessera.backoffice.dashboard.dashboard_callback",
    # The user menu (top right): every staff user's own two-factor login page (B4).
    "ACCOUNT": {
        "navigation": [{"title": _("Two-factor login"), "link": reverse_lazy("backoffice:two_factor")}]
    },
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": False,
        "navigation": [
            _section(
                _("Counter"),
                # A dotted path, imported by unfold per request (the settings load before the apps).
                {
                    **_item(_("Dashboard"), "dashboard", "admin:index", None),
                    "permission": "tessera.backoffice.home.sees_dashboard",
                },
                _item(_("Cashier screen"), "point_of_sale", "backoffice:cashier", "sales.add_transaction"),
                _item(_("Scanner (phone)"), "qr_code_scanner", "scanner:scan", "sales.add_points"),
                _item(_("Top up a card"), "account_balance_wallet", "admin:sales_top_up", "sales.add_topup"),
                _item(_("Add points"), "add_circle", "admin:sales_add_points", "sales.add_points"),
                _item(
                    _("Deduct points"), "remove_circle", "admin:sales_deduct_points", "sales.deduct_points"
                ),
                _item(
                    _("Transfer points"), "swap_horiz", "admin:sales_transfer_points", "sales.transfer_points"
                ),
            ),
            _section(
                _("Members"),
                _item(_("Members"), "group", "admin:members_member_changelist", "members.view_member"),
                _item(
                    _("Segments"), "filter_alt", "admin:members_segment_changelist", "members.view_segment"
                ),
                _item(_("Tags"), "sell", "admin:members_tag_changelist", "members.view_tag"),
                _item(
                    _("Member tiers"),
                    "military_tech",
                    "admin:tiers_membertier_changelist",
                    "tiers.view_membertier",
                ),
                _item(
                    _("Tier changes"),
                    "trending_up",
                    "admin:tiers_tierchange_changelist",
                    "tiers.view_tierchange",
                ),
                _item(
                    _("Adjustment vouchers"),
                    "edit_note",
                    "admin:adjustments_adjustmentvoucher_changelist",
                    "adjustments.view_adjustmentvoucher",
                ),
            ),
            _section(
                _("Sales and points"),
                _item(
                    _("Transactions"),
                    "receipt",
                    "admin:sales_transaction_changelist",
                    "sales.view_transaction",
                ),
                _item(_("Top-ups"), "savings", "admin:sales_topup_changelist", "sales.view_topup"),
                _item(
                    _("Accounts"), "account_balance", "admin:ledger_account_changelist", "ledger.view_account"
                ),
                _item(
                    _("Ledger entries"), "receipt_long", "admin:ledger_entry_changelist", "ledger.view_entry"
                ),
            ),
            _section(
                _("Rewards"),
                _item(_("Gifts"), "redeem", "admin:rewards_gift_changelist", "rewards.view_gift"),
                _item(
                    _("Gift redemptions"),
                    "local_shipping",
                    "admin:rewards_giftredemption_changelist",
                    "rewards.view_giftredemption",
                ),
                _item(
                    _("Promo code offers"),
                    "local_offer",
                    "admin:rewards_promocodeoffer_changelist",
                    "rewards.view_promocodeoffer",
                ),
                _item(
                    _("Promo codes"),
                    "confirmation_number",
                    "admin:rewards_promocode_changelist",
                    "rewards.view_promocode",
                ),
            ),
            _section(
                _("Program"),
                _item(
                    _("Earning rules"),
                    "calculate",
                    "admin:rules_earningrule_changelist",
                    "rules.view_earningrule",
                ),
                _item(
                    _("Rule simulator"),
                    "science",
                    "admin:rules_earningrule_simulator",
                    "rules.view_earningrule",
                ),
                _item(
                    _("Tier program"),
                    "workspace_premium",
                    "admin:tiers_tierprogram_changelist",
                    "tiers.view_tierprogram",
                ),
                _item(_("Tiers"), "stars", "admin:tiers_tier_changelist", "tiers.view_tier"),
                _item(
                    _("Occasion discounts"),
                    "cake",
                    "admin:rewards_occasiondiscount_changelist",
                    "rewards.view_occasiondiscount",
                ),
                _item(
                    _("Top-up bonuses"),
                    "card_giftcard",
                    "admin:rewards_topupbonusrule_changelist",
                    "rewards.view_topupbonusrule",
                ),
                _item(
                    _("Points policy"),
                    "hourglass_bottom",
                    "admin:points_policy_changelist",
                    "points.view_policy",
                ),
                _item(
                    _("Sales settings"),
                    "tune",
                    "admin:sales_salessettings_changelist",
                    "sales.view_salessettings",
                ),
                _item(
                    _("Confirmation by store"),
                    "verified_user",
                    "admin:sales_storeconfirmation_changelist",
                    "sales.view_storeconfirmation",
                ),
                _item(
                    _("Adjustment settings"),
                    "rule",
                    "admin:adjustments_adjustmentsettings_changelist",
                    "adjustments.view_adjustmentsettings",
                ),
            ),
            _section(
                _("Cards"),
                _item(_("Cards"), "credit_card", "admin:cards_card_changelist", "cards.view_card"),
                _item(
                    _("Card batches"),
                    "inventory_2",
                    "admin:cards_cardbatch_changelist",
                    "cards.view_cardbatch",
                ),
                _item(_("Card types"), "style", "admin:cards_cardtype_changelist", "cards.view_cardtype"),
            ),
            _section(
                _("Marketing"),
                _item(
                    _("Campaigns"),
                    "campaign",
                    "admin:marketing_campaign_changelist",
                    "marketing.view_campaign",
                ),
                _item(
                    _("Message templates"),
                    "article",
                    "admin:marketing_messagetemplate_changelist",
                    "marketing.view_messagetemplate",
                ),
                _item(_("Messages"), "sms", "admin:marketing_message_changelist", "marketing.view_message"),
                _item(
                    _("Automatic notices"),
                    "notifications_active",
                    "admin:marketing_noticerule_changelist",
                    "marketing.view_noticerule",
                ),
                _item(
                    _("Holidays"),
                    "celebration",
                    "admin:marketing_holiday_changelist",
                    "marketing.view_holiday",
                ),
                _item(
                    _("Channel settings"),
                    "settings_input_antenna",
                    "admin:marketing_channelsettings_changelist",
                    "marketing.view_channelsettings",
                ),
            ),
            _section(
                _("Reports"),
                *(
                    {
                        "title": title,
                        "icon": icon,
                        "link": reverse_lazy("reports:report", args=[key]),
                        "permission": lambda r, p=f"reports.view_{perm}_report": r.user.has_perm(p),
                    }
                    for key, perm, title, icon in (
                        ("sales", "sales", _("Transactions"), "receipt_long"),
                        ("crm", "crm", _("Customers"), "cake"),
                        ("tiers", "tier", _("Tier movement"), "trending_up"),
                        ("card_audit", "card_audit", _("Card operations"), "fact_check"),
                        ("staff", "staff", _("Staff daily report"), "badge"),
                        ("liability", "liability", _("Liability"), "account_balance"),
                        ("settlement", "settlement", _("Inter-store settlement"), "compare_arrows"),
                    )
                ),
            ),
            _section(
                _("Imports"),
                _item(_("Import members"), "upload_file", "imports:list", "imports.view_importjob"),
            ),
            _section(
                _("Exports"),
                _item(_("My exports"), "download", "exports:list", None),
            ),
            _section(
                _("Integrations"),
                _item(
                    _("Shop connections"),
                    "hub",
                    "admin:integrations_connection_changelist",
                    "integrations.view_connection",
                ),
                _item(
                    _("Inbound deliveries"),
                    "move_to_inbox",
                    "admin:integrations_inbounddelivery_changelist",
                    "integrations.view_inbounddelivery",
                ),
                _item(
                    _("Webhook endpoints"),
                    "webhook",
                    "admin:integrations_webhookendpoint_changelist",
                    "integrations.view_webhookendpoint",
                ),
                _item(
                    _("Webhook deliveries"),
                    "outbox",
                    "admin:integrations_webhookdelivery_changelist",
                    "integrations.view_webhookdelivery",
                ),
                _item(
                    _("Website widget"),
                    "widgets",
                    "admin:portal_widgetsettings_changelist",
                    "portal.view_widgetsettings",
                ),
            ),
            _section(
                _("Organisation"),
                _item(
                    _("Merchants"), "storefront", "admin:tenancy_merchant_changelist", "tenancy.view_merchant"
                ),
                _item(_("Stores"), "store", "admin:tenancy_store_changelist", "tenancy.view_store"),
                _item(
                    _("Staff"),
                    "badge",
                    "admin:tenancy_staffmembership_changelist",
                    "tenancy.view_staffmembership",
                ),
                _item(
                    _("Roles"), "admin_panel_settings", "admin:tenancy_role_changelist", "tenancy.view_role"
                ),
                _item(_("API keys"), "key", "admin:tenancy_apikey_changelist", "tenancy.view_apikey"),
            ),
        ],
    },
}
