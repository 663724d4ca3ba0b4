"""Migration operations of our own."""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.models import Index


class AlterIndexOnly(migrations.AlterField):
    """`AlterField` for a change of a field's `db_index` alone (issue 16: the key indexes that other
    indexes cover, the history tables' indexes).

    PostgreSQL drops or creates the index as Django does. On SQLite Django would rebuild the whole table
    for it, and SQLite refuses to rename a rebuilt table that a trigger's body names (the reports'
    triggers name the ledger's, the sales', the members' and the cards' tables): there the index alone
    is dropped or created, as on PostgreSQL. Anything else changed in the field is refused."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "sqlite":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        to_model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, to_model):
            return
        from_model = from_state.apps.get_model(app_label, self.model_name)
        old, new = from_model._meta.get_field(self.name), to_model._meta.get_field(self.name)
        if _without_index(old) != _without_index(new):
            raise ValueError(f"{app_label}.{self.model_name}.{self.name}: more than db_index changes")
        if old.db_index and not new.db_index:
            for name in schema_editor._constraint_names(
                from_model,
                [old.column],
                index=True,
                type_=Index.suffix,
                exclude={index.name for index in from_model._meta.indexes},
            ):
                schema_editor.execute(schema_editor._delete_index_sql(from_model, name))
        elif new.db_index and not old.db_index:
            schema_editor.execute(schema_editor._create_index_sql(to_model, fields=[new]))

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self.database_forwards(app_label, schema_editor, from_state, to_state)


def _without_index(field: Any) -> tuple[Any, ...]:
    _name, path, args, kwargs = field.deconstruct()
    kwargs.pop("db_index", None)
    return path, args, kwargs
