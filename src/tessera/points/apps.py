from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PointsConfig(AppConfig):
    """The points policy: no models of its own yet (the values are stored on `sales.SalesSettings`)."""

    name = "tessera.points"
    label = "points"
    verbose_name = _("Points policy")
