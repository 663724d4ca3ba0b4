from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "tessera.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from django.core.signals import request_started

        from tessera.core.middleware import skip_health_check_for_api
        from tessera.core.textguard import install_form_validator

        install_form_validator()
        # Connected after Django's close_old_connections (django.db connects it when first imported).
        request_started.connect(skip_health_check_for_api, dispatch_uid="tessera-api-health-check")
