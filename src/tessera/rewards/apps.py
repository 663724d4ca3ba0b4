from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RewardsConfig(AppConfig):
    name = "tessera.rewards"
    label = "rewards"
    verbose_name = _("Rewards")

    def ready(self) -> None:
        from tessera.rewards.models import OccasionDiscount
        from tessera.tenancy import config

        # The occasion discounts are read from the configuration cache by every quote (issue 15 §3).
        config.bump_on_change(OccasionDiscount)
