from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PointsConfig(AppConfig):
    """The points policy (`points.Policy`) and the one function that dates a lot (`points.policy`)."""

    name = "tessera.points"
    label = "points"
    verbose_name = _("Points policy")

    def ready(self) -> None:
        from tessera.points.models import Policy
        from tessera.tenancy import config

        config.bump_on_change(Policy)
