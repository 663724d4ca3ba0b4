from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "tessera.integrations"
    label = "integrations"
    verbose_name = _("Integrations")

    def ready(self) -> None:
        from tessera.core.events import event_recorded
        from tessera.integrations.models import WebhookEndpoint
        from tessera.integrations.receivers import on_event_recorded
        from tessera.tenancy import config

        event_recorded.connect(on_event_recorded, dispatch_uid="integrations.webhooks")
        # The endpoints are read from the configuration cache on every event (issue 13).
        config.bump_on_change(WebhookEndpoint)
