from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "tessera.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from tessera.core.textguard import install_form_validator

        install_form_validator()
