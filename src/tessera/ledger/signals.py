"""What the ledger announces to the apps above it (issue 13): they listen, the ledger never calls them.

`entries_written` is sent inside the writer's transaction, right after the entries are saved (their
lots and lot uses may follow in the same transaction), once per write with every entry of it, so a
listener can store what it derives in one bulk statement that commits or rolls back with the entries.
A listener that raises fails the write.
The reports' daily tables are kept this way (`tessera.reports.aggregates.record_entries`).
"""

from django.dispatch import Signal

#: Sent with `entries`: a sequence of saved `Entry` rows (pk set, `account` loaded).
entries_written = Signal()
