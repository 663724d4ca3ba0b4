from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RulesConfig(AppConfig):
    name = "tessera.rules"
    label = "rules"
    verbose_name = _("Earning rules")

    def ready(self) -> None:
        from tessera.rules.models import EarningRule, EarningRuleVersion
        from tessera.tenancy import config

        # The rules in force are read from the configuration cache on every sale (issue 13).
        config.bump_on_change(EarningRule, EarningRuleVersion)
