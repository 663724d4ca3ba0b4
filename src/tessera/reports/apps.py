from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "tessera.reports"
    label = "reports"
    verbose_name = _("Reports")

    def ready(self) -> None:
        # The reports listen to the ledger and the sales, which never call them (issue 13): the daily
        # tables' deltas are written inside the transaction that sends these signals.
        from tessera.ledger.signals import entries_written
        from tessera.reports import aggregates
        from tessera.sales import signals as sales

        entries_written.connect(aggregates.record_entries, dispatch_uid="reports.record_entries")
        sales.sale_confirmed.connect(aggregates.record_sale_confirmed, dispatch_uid="reports.sale_confirmed")
        sales.sale_voided.connect(aggregates.record_sale_voided, dispatch_uid="reports.sale_voided")
        sales.refund_recorded.connect(aggregates.record_refund, dispatch_uid="reports.refund_recorded")
