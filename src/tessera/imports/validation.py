"""Checking import rows, each on its own (`RowChecker.parse`): what only Python can check — phones,
dates, numbers, texts, the merchant's tags and stores. The rules over the set of rows (a phone twice
in the file, a phone already a member's) are checked in SQL over the staged rows (`staging.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from tessera.core.limits import MIN_BIRTH_YEAR, control_characters
from tessera.core.textguard import printable
from tessera.imports import fields as parse
from tessera.imports.fields import FIELDS_BY_NAME, CellError
from tessera.members.models import Tag
from tessera.points.policy import lot_dates, policy_of
from tessera.tenancy.models import Merchant, Store

#: Profile fields an "update the empty fields" row may fill. Consent flags are never filled in: a
#: member's choice is theirs, and an old file's "no" is not a choice either.
FILLABLE = (
    "full_name",
    "email",
    "birthday",
    "gender",
    "address",
    "region",
    "occupation",
    "id_number",
    "notes",
    "home_store_id",
)


@dataclass(frozen=True)
class Problem:
    row: int
    column: str
    value: str
    code: str
    message: str | Promise


@dataclass
class ParsedRow:
    row: int
    #: E.164, and the phone cell as the error report shows it.
    phone: str | None = None
    phone_cell: str = ""
    #: Member attribute → value, for the mapped, non-empty cells.
    values: dict[str, Any] = field(default_factory=dict)
    tag_ids: list[int] = field(default_factory=list)
    points: int = 0
    earned_at: datetime | None = None
    expires_at: datetime | None = None
    problems: list[Problem] = field(default_factory=list)


def _cell_text(value: Any) -> str:
    """A cell as the error report shows it; control characters as U+XXXX (PostgreSQL stores no NUL)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return printable(str(value)[:300])[:300]


def _refuse_controls(value: Any) -> None:
    """Text cells hold no control character but tabs and line breaks (collapsed into spaces as read), so
    the dry run reports what apply could not store."""
    if isinstance(value, str) and (found := control_characters(value, multiline=True)):
        raise CellError(
            "control_characters",
            _("The cell contains control characters (%(found)s).") % {"found": ", ".join(sorted(set(found)))},
        )


class RowChecker:
    """Checks rows of one file for one merchant, one at a time."""

    def __init__(
        self,
        *,
        merchant: Merchant,
        headers: Sequence[str],
        mapping: dict[str, str],
        default_expiry: date | None,
        now: datetime | None = None,
    ) -> None:
        self.merchant = merchant
        self.region = (merchant.country or "VN").upper()
        self.tz = merchant.tz
        self.now = now or timezone.now()
        self.today = timezone.localtime(self.now, self.tz).date()
        self.default_expiry = self._end_of(default_expiry) if default_expiry else None
        self.policy = policy_of(merchant)
        self.policy_expiry: dict[datetime, datetime | None] = {}
        index = {header: i for i, header in enumerate(headers)}
        self.columns = [(index[h], h, name) for h, name in mapping.items() if h in index]
        self.phone_header = next((h for _i, h, name in self.columns if name == "phone"), "")
        self.tags = {t.name.casefold(): t.pk for t in Tag.objects.of(merchant)}
        self.stores: dict[str, int] = {}
        for store in Store.objects.of(merchant):
            self.stores.setdefault(store.name.casefold(), store.pk)
        for store in Store.objects.of(merchant):
            self.stores[store.code.casefold()] = store.pk  # a code wins over a name

    def _start_of(self, day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=self.tz)

    def _end_of(self, day: date) -> datetime:
        """Points "expiring on" a day can still be spent that day: they go at the next midnight."""
        return self._start_of(day + timedelta(days=1))

    # --- one row --------------------------------------------------------------------------------------

    def parse(self, number: int, cells: Sequence[Any]) -> ParsedRow:
        row = ParsedRow(row=number)
        raw_by_field: dict[str, tuple[str, Any]] = {}
        for index, header, name in self.columns:
            value = cells[index] if index < len(cells) else None
            if not parse.is_blank(value):
                raw_by_field[name] = (header, value)

        def problem(name: str, code: str, message: str | Promise, value: Any = None) -> None:
            header, raw = raw_by_field.get(name, (self.phone_header if name == "phone" else "", None))
            shown = raw if value is None else value
            row.problems.append(Problem(number, header, _cell_text(shown), code, message))

        for name, (_header, value) in raw_by_field.items():
            try:
                _refuse_controls(value)
                self._parse_cell(row, name, value, problem)
            except CellError as exc:
                problem(name, exc.code, exc.message)
        if "phone" not in raw_by_field:
            problem("phone", "missing_phone", _("The phone is required."))
        self._check_points(row, problem)
        return row

    def _parse_cell(self, row: ParsedRow, name: str, value: Any, problem: Callable[..., None]) -> None:
        spec = FIELDS_BY_NAME[name]
        if name == "phone":
            row.phone_cell = _cell_text(value)
            row.phone = parse.phone(value, region=self.region)
        elif name == "email":
            row.values["email"] = parse.email(value)
        elif name == "birthday":
            birthday = parse.a_date(value)
            if birthday > self.today:
                raise CellError("birthday_in_future", _("The birthday is in the future."))
            if birthday.year < MIN_BIRTH_YEAR:
                raise CellError("invalid_date", _("The birthday is before 1900."))
            row.values["birthday"] = birthday
        elif name == "gender":
            row.values["gender"] = parse.gender(value)
        elif name in ("marketing_sms", "marketing_email"):
            row.values[name] = parse.yes_no(value)
        elif name == "tags":
            for tag in parse.names(value):
                tag_id = self.tags.get(tag.casefold())
                if tag_id is None:
                    problem(name, "unknown_tag", _("There is no tag “%(tag)s”.") % {"tag": tag}, tag)
                elif tag_id not in row.tag_ids:
                    row.tag_ids.append(tag_id)
        elif name == "home_store":
            code = parse.text(value, max_length=None).casefold()
            if code not in self.stores:
                raise CellError("unknown_store", _("There is no store with this code."))
            row.values["home_store_id"] = self.stores[code]
        elif name == "points":
            row.points = parse.points(value)
        elif name == "points_earned_on":
            earned = parse.a_date(value)
            if earned > self.today:
                raise CellError("earned_in_future", _("Points cannot be earned in the future."))
            row.earned_at = self._start_of(earned)
        elif name == "points_expire_on":
            row.expires_at = self._end_of(parse.a_date(value))
        else:
            row.values[name] = parse.text(value, max_length=spec.max_length)

    def _check_points(self, row: ParsedRow, problem: Callable[..., None]) -> None:
        if not row.points:
            return
        row.earned_at = row.earned_at or self.now
        row.expires_at = row.expires_at or self.default_expiry or self._by_policy(row.earned_at)
        if row.expires_at is None:
            return
        if row.expires_at <= row.earned_at:
            problem(
                "points_expire_on",
                "expiry_before_earning",
                _("Points must expire after the date they were earned."),
            )
        elif row.expires_at <= self.now:
            problem(
                "points_expire_on",
                "expiry_in_past",
                _("These points have already expired; leave the row's points out or give a later date."),
            )

    def _by_policy(self, earned_at: datetime) -> datetime | None:
        """A row without an expiry date of its own (nor the job's): the points policy's, computed once
        per distinct earning date."""
        if earned_at not in self.policy_expiry:
            self.policy_expiry[earned_at] = lot_dates(self.policy, earned_at=earned_at, tz=self.tz).expires_at
        return self.policy_expiry[earned_at]
