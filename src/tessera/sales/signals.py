"""What the sales announce to the apps above them (issue 13): they listen, sales never call them.

Sent inside the writer's transaction, after the sale or refund is saved, so what a listener writes
commits or rolls back with it; a listener that raises fails the write. (The reports' daily deltas are
written by database triggers instead, at no round trip: `tessera.reports.triggers`.) Webhooks and
notifications use `tessera.core.events`.
"""

from django.dispatch import Signal

#: Sent with `sale`: a `Transaction` just confirmed.
sale_confirmed = Signal()
#: Sent with `sale`: a `Transaction` just voided (it may have been pending or confirmed).
sale_voided = Signal()
#: Sent with `refund`: a `Refund` just recorded, its ledger reversals done.
refund_recorded = Signal()
