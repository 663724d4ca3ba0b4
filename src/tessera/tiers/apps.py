from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TiersConfig(AppConfig):
    name = "tessera.tiers"
    label = "tiers"
    verbose_name = _("Tiers")

    def ready(self) -> None:
        from tessera.tenancy import config
        from tessera.tiers.models import Tier, TierProgram

        # The program and its tiers are read from the configuration cache on every sale (issue 13).
        config.bump_on_change(TierProgram, Tier)
