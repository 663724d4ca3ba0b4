from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "tessera.sales"
    label = "sales"
    verbose_name = _("Sales")

    def ready(self) -> None:
        from tessera.rules import purchase
        from tessera.sales.models import SalesSettings, StoreConfirmation
        from tessera.sales.simulation import explain_purchase
        from tessera.tenancy import config

        config.bump_on_change(SalesSettings, StoreConfirmation)
        purchase.register(explain_purchase)  # the simulator's discounts and bonuses (issue 15 §3, §5)
