"""The staged rows of an import (issue 16): the check writes every row it read, parsed, into
`StagedRow` (PostgreSQL `COPY FROM STDIN`; batched inserts on SQLite), then checks the rules over the
set of rows in SQL — a phone twice in the file, a phone already a member's — and apply writes members,
tags and opening balances from them with `INSERT … SELECT`, a range of rows at a time.

Only what needs a row's values in Python stays in Python: the "fill in the empty fields" policy,
which compares each matched member's fields (few rows, in practice).
"""

# The SQL is fixed text and column names; values are parameters.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils.translation import gettext_lazy as _

from tessera.imports.models import DuplicatePolicy, ImportJob, StagedRow
from tessera.imports.validation import FILLABLE, ParsedRow, Problem
from tessera.members.models import Member
from tessera.members.services import IMPORT_COLUMNS, build_search_text

Action = StagedRow.Action

_PROFILE = [c for c in IMPORT_COLUMNS if c not in ("phone", "search_text")]
#: What a row that leaves a profile field out stages: the staging column's default ("", None, False).
_BLANK = {name: StagedRow._meta.get_field(name).get_default() for name in _PROFILE}  # type: ignore[union-attr]
_COLUMNS = [
    "job_id",
    "line",
    "action",
    "phone",
    "phone_cell",
    *_PROFILE,
    "search_text",
    "tag_ids",
    "points",
    "earned_at",
    "expires_at",
]
_TABLE = StagedRow._meta.db_table
#: The current member with staged row `s`'s phone (parameter: the merchant), by the unique index.
_MEMBER = """SELECT m.id FROM members_member m WHERE m.merchant_id = %s AND m.phone = s.phone
    AND m.superseded_by_id IS NULL AND m.erased_at IS NULL"""
#: The staged rows of a job between two lines with one action (parameters: job, first, last, action).
RANGE = f"FROM {_TABLE} s WHERE s.job_id = %s AND s.line BETWEEN %s AND %s AND s.action = %s"


def _values(job: ImportJob, row: ParsedRow) -> list[Any]:
    values = row.values
    full_name, email = values.get("full_name", ""), values.get("email", "")
    return [
        job.pk,
        row.row,
        Action.REJECT if row.problems else Action.CREATE,
        row.phone or "",
        row.phone_cell,
        *(values.get(name, blank) for name, blank in _BLANK.items()),
        build_search_text(full_name=full_name, phone=row.phone, email=email) if row.phone else "",
        json.dumps(row.tag_ids),
        row.points,
        row.earned_at,
        row.expires_at,
    ]


def stage(job: ImportJob, rows: Sequence[ParsedRow]) -> None:
    """Write a chunk of parsed rows: rows with problems as rejected, the others as to be created
    (until `find_duplicates` and `match_members` say otherwise)."""
    values = [_values(job, row) for row in rows]
    names = ", ".join(_COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {_TABLE} ({names}) FROM STDIN") as copy:
                for row_values in values:
                    copy.write_row(row_values)
            return
        ops = connection.ops
        for row_values in values:
            for index in (-2, -1):
                row_values[index] = ops.adapt_datetimefield_value(row_values[index])
            birthday = _COLUMNS.index("birthday")
            row_values[birthday] = ops.adapt_datefield_value(row_values[birthday])
        holes = ", ".join(["%s"] * len(_COLUMNS))
        cursor.executemany(f"INSERT INTO {_TABLE} ({names}) VALUES ({holes})", values)


def analyse() -> None:
    """Fresh planner statistics once a file is staged, so apply's range scans use the (job, line) index."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {_TABLE}")


def clear(job: ImportJob) -> None:
    StagedRow.objects.filter(job=job).delete()


def _set_actions(job: ImportJob, decisions: Sequence[tuple[str, int | None, int]]) -> None:
    """(action, member id, line) for rows decided one by one."""
    if decisions:
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {_TABLE} SET action = %s, member_id = %s WHERE job_id = %s AND line = %s",
                [(action, member_id, job.pk, line) for action, member_id, line in decisions],
            )


_DUPLICATE = f"""s.job_id = %s AND s.phone <> '' AND EXISTS (
    SELECT 1 FROM {_TABLE} e WHERE e.job_id = s.job_id AND e.phone = s.phone AND e.line < s.line)"""


def find_duplicates(job: ImportJob, *, phone_header: str) -> list[Problem]:
    """A phone on an earlier row of the file (whatever else is wrong with either row): the later
    rows are rejected."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.line, s.phone_cell FROM {_TABLE} s WHERE {_DUPLICATE} ORDER BY s.line", [job.pk]
        )
        found = cursor.fetchall()
        if not found:
            return []
        cursor.execute(
            f"UPDATE {_TABLE} SET action = %s WHERE id IN (SELECT s.id FROM {_TABLE} s WHERE {_DUPLICATE})",
            [Action.REJECT.value, job.pk],
        )
    message = _("This phone is already on an earlier row of the file.")
    return [Problem(line, phone_header, cell, "duplicate_in_file", message) for line, cell in found]


def match_members(job: ImportJob, *, first: int, last: int, phone_header: str) -> list[Problem]:
    """Rows still to be created between two lines whose phone is a current member's follow the job's
    policy: rejected (`member_exists`), skipped, or filling in the member's empty fields (opening
    points for such a member are refused: `points_for_existing_member`). Returns the new problems.

    Each staged row looks its phone up in the members' unique index (a scalar subquery): the work
    follows the rows asked about, never the size of the members table, whatever the planner's
    statistics say — during an all-or-nothing apply the table grows by a block at a time inside one
    transaction, which autovacuum never sees (issue 16: a join here scanned every member once per
    block, 0.7 s a block by the end of a million rows)."""
    fills = ", ".join(f"s.{name}" for name in FILLABLE)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT x.* FROM (
                    SELECT s.line, s.phone, s.points, ({_MEMBER}) AS member_id, s.tag_ids, {fills}
                    FROM {_TABLE} s
                    WHERE s.job_id = %s AND s.line BETWEEN %s AND %s AND s.action = %s AND s.phone <> ''
                ) x WHERE x.member_id IS NOT NULL ORDER BY x.line""",
            [job.merchant_id, job.pk, first, last, Action.CREATE.value],
        )
        matched = cursor.fetchall()
    if not matched:
        return []
    problems: list[Problem] = []
    decisions: list[tuple[str, int | None, int]] = []
    members = Member.objects.in_bulk([m[3] for m in matched])
    tagged = set(
        Member.tags.through.objects.filter(member_id__in=list(members)).values_list("member_id", flat=True)
    )
    for line, phone, points, member_id, tag_ids, *staged in matched:
        if job.duplicate_policy == DuplicatePolicy.ERROR:
            problems.append(
                Problem(line, phone_header, phone, "member_exists", _("This phone is already a member's."))
            )
            decisions.append((Action.REJECT, None, line))
        elif job.duplicate_policy == DuplicatePolicy.SKIP:
            decisions.append((Action.SKIP, member_id, line))
        elif points:
            problems.append(
                Problem(
                    line,
                    phone_header,
                    phone,
                    "points_for_existing_member",
                    _(
                        "This phone is already a member's: opening points are imported for new members "
                        "only; use an adjustment voucher."
                    ),
                )
            )
            decisions.append((Action.REJECT, None, line))
        else:
            member = members[member_id]
            tags = [] if member_id in tagged else _tag_ids(tag_ids)
            filled = fills_of(member, dict(zip(FILLABLE, staged, strict=True)))
            decisions.append((Action.UPDATE if (filled or tags) else Action.SKIP, member_id, line))
    _set_actions(job, [(str(action), member_id, line) for action, member_id, line in decisions])
    return problems


def _tag_ids(value: Any) -> list[int]:
    return list(json.loads(value) if isinstance(value, str) else value or [])


def fills_of(member: Member, staged: dict[str, Any]) -> dict[str, Any]:
    """The staged values that fill a field the member has left empty."""
    return {
        name: value
        for name, value in staged.items()
        if value not in ("", None) and getattr(member, name) in ("", None)
    }


@dataclass(frozen=True)
class Counts:
    total: int
    invalid: int
    created: int
    updated: int
    skipped: int
    points: int

    @property
    def valid(self) -> int:
        return self.total - self.invalid


def counts(job: ImportJob) -> Counts:
    """What the staged rows say: after the check, what apply will do; after apply, what it did."""

    def of(action: str) -> str:
        return f"COALESCE(SUM(CASE WHEN s.action = '{action}' THEN 1 ELSE 0 END), 0)"

    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT COUNT(*), {of(Action.REJECT)}, {of(Action.CREATE)}, {of(Action.UPDATE)},
                {of(Action.SKIP)}, COALESCE(SUM(CASE WHEN s.action = 'create' THEN s.points ELSE 0 END), 0)
                FROM {_TABLE} s WHERE s.job_id = %s""",
            [job.pk],
        )
        total, invalid, created, updated, skipped, points = (int(v) for v in cursor.fetchone())
    return Counts(total, invalid, created, updated, skipped, points)


def last_line(job: ImportJob) -> int:
    return StagedRow.objects.filter(job=job).order_by("-line").values_list("line", flat=True).first() or 0


def chunk_end(job: ImportJob, *, first: int, size: int) -> int | None:
    """The line of the `size`-th staged row from line `first` on (None: fewer rows are left)."""
    lines = StagedRow.objects.filter(job=job, line__gte=first).order_by("line").values_list("line", flat=True)
    return lines[size - 1 : size].first()


def updates(job: ImportJob, *, first: int, last: int) -> list[tuple[int, dict[str, Any], list[int]]]:
    """The rows filling in members' fields between two lines: (member id, staged values, tag ids)."""
    fills = ", ".join(f"s.{name}" for name in FILLABLE)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.member_id, s.tag_ids, {fills} {RANGE} ORDER BY s.line",
            [job.pk, first, last, Action.UPDATE.value],
        )
        return [
            (member_id, dict(zip(FILLABLE, staged, strict=True)), _tag_ids(tag_ids))
            for member_id, tag_ids, *staged in cursor.fetchall()
        ]


def created(
    job: ImportJob, members: Sequence[tuple[int, str]], *, first: int, last: int
) -> tuple[str, list[Any]]:
    """`FROM …` (and its parameters) of the staged rows created between two lines, each with the member
    it became as `c.member_id`: `members` holds (member id, phone) as `register_members_from` returns
    them. A join with the block's own rows, so nothing is written back to the staging table."""
    if connection.vendor == "postgresql":
        pairs = "unnest(%s::bigint[], %s::text[]) AS c(member_id, phone)"
        params: list[Any] = [[pk for pk, _phone in members], [phone for _pk, phone in members]]
    else:
        pairs = """(SELECT json_extract(value, '$[0]') AS member_id, json_extract(value, '$[1]') AS phone
                    FROM json_each(%s)) AS c"""
        params = [json.dumps([list(pair) for pair in members])]
    source = f"""FROM {pairs} JOIN {_TABLE} s ON s.job_id = %s AND s.phone = c.phone
        AND s.line BETWEEN %s AND %s AND s.action = %s"""
    return source, [*params, job.pk, first, last, Action.CREATE.value]


def new_tags(source: str) -> str:
    """The tags of the rows of `source` (from `created`): member id, tag id."""
    if connection.vendor == "postgresql":
        each, tag = "CROSS JOIN LATERAL jsonb_array_elements_text(s.tag_ids) t(value)", "t.value::bigint"
    else:
        each, tag = "JOIN json_each(s.tag_ids) t", "t.value"
    return f"SELECT c.member_id, {tag} AS tag_id {source} {each}"
