from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "tessera.integrations"
    label = "integrations"
    verbose_name = _("Integrations")

    def ready(self) -> None:
        from tessera.core.events import event_published
        from tessera.integrations.receivers import on_event_published

        event_published.connect(on_event_published, dispatch_uid="integrations.webhooks")
