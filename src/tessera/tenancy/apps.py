from typing import Any

from django.apps import AppConfig
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class TenancyConfig(AppConfig):
    name = "tessera.tenancy"
    label = "tenancy"
    verbose_name = _("Merchants and staff")

    def ready(self) -> None:
        from django.contrib import admin
        from django.db.models.signals import post_migrate

        from tessera.tenancy import config, history, two_factor  # noqa: F401 (history: its receiver)
        from tessera.tenancy.models import ApiKey, Merchant, Store

        # After `migrate`, every merchant's default roles get what this release grants them (and lose
        # what it no longer grants); once, after the last app's permissions exist.
        post_migrate.connect(_refresh_default_roles, dispatch_uid="tessera-refresh-default-roles")

        # The merchant row itself, its stores and its API keys are part of what a request reads (issue 13).
        config.bump_on_change(Merchant, merchant_of=lambda merchant: merchant.pk)
        config.bump_on_change(Store, ApiKey)

        # B4: a user with an authenticator app, or whose merchant requires one, is staff of the back office
        # only in a session that passed the second step. Every admin page and `admin_view` asks this;
        # logging out needs no second step (the admin would send the user to the index instead).
        password_only = admin.site.has_permission

        def has_permission(request: HttpRequest) -> Any:
            if not password_only(request):
                return False
            if getattr(request, "two_factor_passed", False) or request.path == reverse("admin:logout"):
                return True  # passed earlier in this request (TwoFactorMiddleware): it stays passed
            return two_factor.pending_step(request.user) is None

        admin.site.has_permission = has_permission  # type: ignore[method-assign]


def _refresh_default_roles(
    sender: AppConfig, using: str = "default", plan: list[Any] | None = None, **_kwargs: Any
) -> None:
    from django.apps import apps

    if any(backwards for _migration, backwards in plan or []):
        return  # a migration undone: the models may be ahead of the tables

    from tessera.tenancy.services import refresh_default_roles

    last = [config for config in apps.get_app_configs() if config.models_module is not None][-1]
    if sender is last:
        refresh_default_roles(using=using)
