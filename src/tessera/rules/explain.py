"""Why a rule gave its points, kept as a message and its arguments and worded in the reader's language.

A sale stores its earning parts (`Transaction.earning_parts`, E5) when it is made; their explanations are
read later by staff who may use another language than the cashier's request did. So an explanation is a
`Why`: an English message (marked with `gettext_noop`, so it is in the catalogues) and its arguments —
numbers, `Money` (formatted when read) or another `Why` — rendered by `str()` in the active language.
`stored()` gives its JSON form; `loaded()` reads it back (a plain string, from sales made before, is kept).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext

from tessera.core.formatting import format_money


@dataclass(frozen=True)
class Money:
    amount: int
    currency: str

    def __str__(self) -> str:
        return format_money(self.amount, self.currency)


@dataclass(frozen=True)
class Why:
    text: str
    args: Mapping[str, Any]

    def __str__(self) -> str:
        return gettext(self.text) % {name: str(value) for name, value in self.args.items()}


def stored(value: Why | str) -> Any:
    """The JSON form of an explanation (or a part's name)."""
    if not isinstance(value, Why):
        return str(value)
    return {"text": value.text, "args": {name: _stored_arg(arg) for name, arg in value.args.items()}}


def _stored_arg(arg: Any) -> Any:
    if isinstance(arg, Why):
        return stored(arg)
    if isinstance(arg, Money):
        return {"money": arg.amount, "currency": arg.currency}
    return arg if isinstance(arg, int | str) else str(arg)


def loaded(data: Any) -> Why | str:
    """`stored()` read back; anything else (text of an older sale) as it was written."""
    if isinstance(data, dict) and isinstance(data.get("text"), str):
        return Why(data["text"], {name: _loaded_arg(arg) for name, arg in (data.get("args") or {}).items()})
    return "" if data is None else str(data)


def _loaded_arg(arg: Any) -> Any:
    if isinstance(arg, dict) and "money" in arg:
        return Money(int(arg["money"]), str(arg["currency"]))
    if isinstance(arg, dict):
        return loaded(arg)
    return arg


def describe_parts(parts: list[dict[str, Any]]) -> str:
    """A sale's stored earning parts as one sentence in the active language ("name: why; …")."""
    return "; ".join(f"{loaded(part.get('name'))}: {loaded(part.get('explanation'))}" for part in parts)
