"""What the ledger announces to the apps above it (issue 13): they listen, the ledger never calls them.

`entries_written` is sent inside the writer's transaction, right after the entries are saved (their
lots and lot uses may follow in the same transaction), once per write with every entry of it, so a
listener can store what it derives in one bulk statement that commits or rolls back with the entries.
A listener that raises fails the write.
(The reports' daily deltas are written by database triggers instead, at no round trip:
`tessera.reports.triggers`.)
"""

from django.dispatch import Signal

#: Sent with `entries`: a sequence of saved `Entry` rows (pk set, `account` loaded).
entries_written = Signal()
