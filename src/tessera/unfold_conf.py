"""The back office's look and navigation (django-unfold)."""

from django.templatetags.static import static
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _


def _can(perm: str):  # type: ignore[no-untyped-def]
    return lambda request: request.user.has_perm(perm)


UNFOLD = {
    "SITE_TITLE": "Tessera",
    "SITE_HEADER": "Tessera",
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
