from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RewardsConfig(AppConfig):
    name = "tessera.rewards"
    label = "rewards"
    verbose_name = _("Rewards")

    def ready(self) -> None:
        from tessera.members import signals
        from tessera.rewards import receivers
        from tessera.rewards.models import BonusRule, OccasionDiscount
        from tessera.tenancy import config

        # The occasion discounts are read from the configuration cache by every quote (issue 15 §3).
        config.bump_on_change(OccasionDiscount)

        signals.member_registered.connect(receivers.member_registered, dispatch_uid="rewards-sign-up-bonus")
        signals.member_profile_changed.connect(
            receivers.member_profile_changed, dispatch_uid="rewards-profile-bonus"
        )
        # Sales read the bonus rules on every confirmation, void and full refund (issue 15 §5).
        config.bump_on_change(BonusRule)
