from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AdjustmentsConfig(AppConfig):
    name = "tessera.adjustments"
    label = "adjustments"
    verbose_name = _("Adjustment vouchers")
