from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketingConfig(AppConfig):
    name = "tessera.marketing"
    label = "marketing"
    verbose_name = _("Marketing")

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from tessera.core import sms
        from tessera.core.events import event_published
        from tessera.marketing.delivery import merchant_sms_backend
        from tessera.marketing.models import NoticeRule
        from tessera.marketing.receivers import on_event_published, on_member_saved
        from tessera.members.models import Member
        from tessera.tenancy import config

        # Whether a notice rule is on is read from the configuration cache after every sale (issue 13).
        config.bump_on_change(NoticeRule)
        event_published.connect(on_event_published, dispatch_uid="marketing.notices")
        post_save.connect(on_member_saved, sender=Member, dispatch_uid="marketing.forget_erased")
        sms.register_resolver(merchant_sms_backend)
