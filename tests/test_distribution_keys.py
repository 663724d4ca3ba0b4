"""Issue 16, scale-out on paper (docs/scaling.md): what blocks distributing the tenant tables by
`merchant_id` (Citus: hash-distributed tables co-located on the merchant).

Citus enforces a primary key, a unique constraint or a foreign key between two distributed tables only
if it includes the distribution column. So each tenant table (a model with a `merchant` foreign key)
is checked for: a primary key without `merchant_id`; a unique constraint without it; a foreign key to
another tenant table (a single column, so without it). A foreign key to a table that holds no
tenant's data (users, content types: Citus *reference tables*, copied to every node) is allowed; those
tables are listed. A table without `merchant_id` that points to a tenant table cannot be distributed
at all. `tenancy_merchant` is distributed by its own id.

The lists below are what blocks today, checked in: the test fails when the models change them, so
the gap can only shrink, or grow on purpose with this file updated in the same change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db import models

MERCHANT_TABLE = "tenancy_merchant"
#: What blocks today (written by `survey`): reference tables, tenant tables keyed with merchant_id,
#: tables without merchant_id that point to tenant tables, and per tenant table its gaps.
KNOWN = Path(__file__).with_name("distribution_gaps.json")


def _is_tenant(model: type[models.Model]) -> bool:
    return any(
        f.name == "merchant"
        and f.is_relation
        and f.related_model is not None
        and f.related_model._meta.db_table == MERCHANT_TABLE
        for f in model._meta.concrete_fields
    )


def _models() -> list[type[models.Model]]:
    return [m for m in apps.get_models(include_auto_created=True) if m._meta.managed and not m._meta.proxy]


def _unique_sets(model: type[models.Model]) -> list[tuple[str, ...]]:
    opts = model._meta
    sets = [(f.column,) for f in opts.concrete_fields if f.unique and not f.primary_key]
    sets += [tuple(opts.get_field(n).column for n in names) for names in opts.unique_together]
    sets += [
        tuple(opts.get_field(n).column for n in c.fields)
        for c in opts.constraints
        if isinstance(c, models.UniqueConstraint) and c.fields
    ]
    return sets


def _references(model: type[models.Model]) -> list[tuple[str, str]]:
    """Its foreign keys the database enforces (history tables copy theirs without a constraint)."""
    return [
        (f.column, f.related_model._meta.db_table)
        for f in model._meta.concrete_fields
        if f.is_relation
        and f.related_model is not None
        and f.name != "merchant"
        and getattr(f, "db_constraint", True)
    ]


def survey() -> dict[str, Any]:
    """What blocks distribution by merchant today, in the shape of `distribution_gaps.json`."""
    everything = _models()
    tenant = {m._meta.db_table for m in everything if _is_tenant(m)} | {MERCHANT_TABLE}
    reference: set[str] = set()
    keyed: set[str] = set()
    unowned: dict[str, list[str]] = {}
    gaps: dict[str, list[str]] = {}
    for model in everything:
        table = model._meta.db_table
        refs = _references(model)
        if table == MERCHANT_TABLE:
            continue
        if table not in tenant:
            to_tenants = sorted(f"{c} → {t}" for c, t in refs if t in tenant and t != MERCHANT_TABLE)
            if to_tenants:
                unowned[table] = to_tenants
            continue
        if "merchant_id" in {f.column for f in model._meta.concrete_fields if f.primary_key}:
            keyed.add(table)
        reasons = [f"unique ({', '.join(s)})" for s in _unique_sets(model) if "merchant_id" not in s]
        for column, target in refs:
            if target in tenant and target != MERCHANT_TABLE:
                reasons.append(f"{column} → {target}")
            else:
                reference.add(target)
        if reasons:
            gaps[table] = sorted(set(reasons))
    reference.add(MERCHANT_TABLE)
    return {
        "reference_tables": sorted(reference),
        "tenant_tables": len(tenant) - 1,
        "keyed_with_merchant": sorted(keyed),
        "without_merchant_id": dict(sorted(unowned.items())),
        "gaps": dict(sorted(gaps.items())),
    }


def test_issue_16_what_blocks_distribution_by_merchant_is_known():
    """If this fails, the models changed what blocks distribution: shrink the gap on purpose, or write
    the new state to the file (`python tests/test_distribution_keys.py`) and say why in docs/scaling.md."""
    assert survey() == json.loads(KNOWN.read_text())


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tessera.settings")
    django.setup()
    KNOWN.write_text(json.dumps(survey(), ensure_ascii=False, indent=1) + "\n")
