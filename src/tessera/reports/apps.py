from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "tessera.reports"
    label = "reports"
    verbose_name = _("Reports")

    def ready(self) -> None:
        # The ledger and the sales never call the reports (issue 13): the daily tables' deltas are
        # written by the database, by triggers the reports own (`reports.triggers`, migration 0002), in
        # the statement that writes the entry, the sale or the refund.
        post_migrate.connect(_reinstall_on_sqlite, dispatch_uid="reports.triggers")


def _reinstall_on_sqlite(sender: Any, *, using: str, **kwargs: Any) -> None:
    """SQLite drops a table's triggers when a migration rebuilds the table: put them back."""
    from django.db import connections

    from tessera.reports import triggers

    connection = connections[using]
    if sender.name != "tessera.reports" or connection.vendor != "sqlite":
        return
    if "reports_entrydelta" in connection.introspection.table_names():  # not after `migrate reports zero`
        triggers.install(connection)
