from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "tessera.sales"
    label = "sales"
    verbose_name = _("Sales")

    def ready(self) -> None:
        from tessera.points import policy
        from tessera.sales.models import SalesSettings, StoreConfirmation
        from tessera.tenancy import config

        # The points policy is stored on SalesSettings until it has a table of its own (issue 13).
        policy.provide(SalesSettings.for_merchant)
        config.bump_on_change(SalesSettings, StoreConfirmation)
