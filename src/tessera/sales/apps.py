from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "tessera.sales"
    label = "sales"
    verbose_name = _("Sales")

    def ready(self) -> None:
        from tessera.sales.models import SalesSettings, StoreConfirmation
        from tessera.tenancy import config

        config.bump_on_change(SalesSettings, StoreConfirmation)
