"""Why value moved, stored as a code and its arguments and rendered in the reader's language.

An entry keeps three things: `reason_code` (a key of `TEXTS`, or "" for an entry with only a note),
`reason_args` (the values the text names: a sale's number, a gift's name) and `reason` (words a person
typed: a cashier's void reason, a correction's note). Writers pass a `Reason`; a plain string is a note.
Readers call `describe()` (staff: code text, then the note) or `describe(..., for_member=True)` (members:
the code text in plain words, never a staff note). Entries written before codes existed keep their text
in `reason` and are shown as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

#: Every code a writer may store, with its text. Arguments are named; a missing one renders the text
#: without substitution rather than failing a page.
TEXTS: dict[str, Promise] = {
    "sale": _("Sale #%(sale)s"),
    "sale_voided": _("Sale #%(sale)s voided"),
    "sale_refund": _("Refund #%(refund)s of sale #%(sale)s"),
    "manual_add": _("Points added by hand"),
    "manual_deduct": _("Points deducted by hand"),
    "top_up": _("Top-up"),
    "top_up_invoice": _("Top-up, invoice %(invoice)s"),
    "top_up_bonus": _("Top-up bonus: %(rule)s"),
    "tip_reversed": _("Tip reversed"),
    "card_refund": _("Refund to card"),
    "card_sale": _("Card sale, invoice %(invoice)s"),
    "gift": _("Gift: %(gift)s × %(quantity)s"),
    "gift_cancelled": _("Redemption #%(redemption)s cancelled"),
    "promo_code": _("Promo code: %(offer)s"),
    "promo_code_cancelled": _("Promo code %(code)s cancelled"),
    "tier_reward": _("Reward for reaching %(tier)s"),
    "opening_balance": _("Opening balance"),
    "points_transfer_out": _("Points moved to %(member)s"),
    "points_transfer_in": _("Points moved from %(member)s"),
    "sign_up_bonus": _("Sign-up bonus: %(rule)s"),
    "first_purchase_bonus": _("First-purchase bonus (sale #%(sale)s): %(rule)s"),
    "profile_bonus": _("Bonus for completing the profile: %(rule)s"),
    "referral_bonus": _("Referral bonus (sale #%(sale)s): %(rule)s"),
    "referrer_bonus": _("Bonus for referring member #%(member)s: %(rule)s"),
    "event_bonus": _("Bonus for %(event)s: %(rule)s"),
    "bonus_voided": _("Bonus taken back, sale #%(sale)s voided: %(rule)s"),
    "bonus_refunded": _("Bonus taken back, sale #%(sale)s refunded in full: %(rule)s"),
}

#: Appended when a reversal could not take back everything (the member had already spent it).
SHORTFALL = _("%(shortfall)s could not be taken back: already spent.")

#: What a member reads for an entry without a code (or for its kind), in plain words.
MEMBER_KINDS: dict[str, Promise] = {
    "earn": pgettext_lazy("member history", "Points earned"),
    "spend": pgettext_lazy("member history", "Points used"),
    "expire": pgettext_lazy("member history", "Points expired"),
    "adjust": pgettext_lazy("member history", "Points corrected"),
    "transfer": pgettext_lazy("member history", "Points moved"),
    "top_up": pgettext_lazy("member history", "Money added to the card"),
    "bonus": pgettext_lazy("member history", "Bonus"),
    "reversal+": pgettext_lazy("member history", "Points given back (refund or cancellation)"),
    "reversal-": pgettext_lazy("member history", "Points taken back (refund or cancellation)"),
}


@dataclass(frozen=True)
class Reason:
    """A code of `TEXTS` ("" for none), its arguments, and optionally a person's note."""

    code: str
    args: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""

    def __post_init__(self) -> None:
        if self.code and self.code not in TEXTS:
            raise ValueError(f"unknown ledger reason code {self.code!r}")

    def with_args(self, **args: Any) -> Reason:
        return Reason(self.code, {**self.args, **args}, self.note)


def stored(reason: Reason | str) -> dict[str, Any]:
    """The entry's fields for `reason`: a string is a note without a code."""
    if isinstance(reason, Reason):
        return {"reason_code": reason.code, "reason_args": dict(reason.args), "reason": reason.note[:300]}
    return {"reason_code": "", "reason_args": {}, "reason": reason[:300]}


def _fill(text: Promise, args: Mapping[str, Any]) -> str:
    try:
        return str(text) % args
    except (KeyError, TypeError, ValueError):
        return str(text)


def describe(
    code: str,
    args: Mapping[str, Any] | None,
    note: str,
    *,
    kind: str = "",
    amount: int = 0,
    for_member: bool = False,
) -> str:
    """The entry's reason in the active language (see the module's docstring)."""
    args = args or {}
    if for_member and "member_public" in args:
        # Another member named in a member's own history: as much as they may see of them (a transfer).
        args = {**args, "member": args["member_public"]}
    parts = []
    if code in TEXTS:
        parts.append(_fill(TEXTS[code], args))
    elif for_member:
        key = f"{kind}{'+' if amount > 0 else '-'}" if kind == "reversal" else kind
        if key in MEMBER_KINDS:
            parts.append(str(MEMBER_KINDS[key]))
    if note and not for_member:
        parts.append(note)
    text = " — ".join(parts)
    if args.get("shortfall") and not for_member:
        shortfall = _fill(SHORTFALL, args)
        text = f"{text} ({shortfall})" if text else shortfall
    return text
