from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BackofficeConfig(AppConfig):
    name = "tessera.backoffice"
    label = "backoffice"
    verbose_name = _("Back office")

    def ready(self) -> None:
        from django.contrib import admin

        # Unfold's own admin/index.html comes first on the template path; ours wraps it with the dashboard.
        admin.site.index_template = "backoffice/admin_index.html"
        # Django's defaults ("Django site admin", in Vietnamese "Site quản trị hệ thống") name the product.
        admin.site.site_title = admin.site.site_header = "Tessera"
        admin.site.index_title = _("Back office")
        admin.site.login_template = "backoffice/login.html"
