"""Reads of members that are more than a `.get()`: lookup by phone, search (C1, C3). Which members a
segment matches is read in `tessera.ledger.segments`: two of its filters read the ledger."""

from __future__ import annotations

import re

from django.db.models import Q, QuerySet
from unidecode import unidecode

from tessera.core.errors import ValidationFailed
from tessera.members.models import Member
from tessera.members.services import normalise_phone
from tessera.tenancy.models import Merchant

__all__ = ["find_member_by_phone", "search_members", "search_q"]

_PHONE_CHARS = re.compile(r"[\s\-.()+/]")
#: From here on, Unicode holds scripts written without spaces between words (CJK).
_CJK_START = 0x2E80


def find_member_by_phone(*, merchant: Merchant, phone: str) -> Member | None:
    """The merchant's current account for `phone` (C3: an old account after a phone change is not it).

    A phone that is not a valid number finds no one; it does not raise.
    """
    members = members_by_phone(merchant=merchant, phone=phone)
    member = members.select_related("home_store").first() if members is not None else None
    if member is not None:
        member.merchant = merchant  # the caller's instance: no second query for it on the hot POS path
    return member


def members_by_phone(*, merchant: Merchant, phone: str) -> QuerySet[Member] | None:
    """The query `find_member_by_phone` runs (None for a phone that is not a valid number)."""
    e164 = phone_e164(merchant=merchant, phone=phone)
    return current_members(merchant.pk).filter(phone=e164) if e164 is not None else None


def phone_e164(*, merchant: Merchant, phone: str) -> str | None:
    """`phone` as members' phones are stored (E.164), or None when it is not a valid number."""
    try:
        return normalise_phone(phone, merchant=merchant)
    except ValidationFailed:
        return None


def current_members(merchant_id: int) -> QuerySet[Member]:
    """The merchant's current members: not replaced by another account (C3), not erased."""
    return Member.objects.filter(merchant_id=merchant_id, superseded_by__isnull=True, erased_at__isnull=True)


def search_q(query: str) -> Q:
    """The condition `search_members` applies; the admin combines it with its own scoped queryset.

    Every word must match the start of a word of the name or email, as typed ("nguyễn") or without
    diacritics ("nguyen"), so "an" finds "An" but not "Trần". Chinese, Japanese and Korean words match
    anywhere ("小明" finds "王小明"), and a query of digits and phone punctuation matches any part of
    the phone.
    """
    query = " ".join((query or "").split()).lower()
    if not query:
        return Q()
    digits = _PHONE_CHARS.sub("", query)
    if digits.isdigit() and len(digits) >= 3:
        return Q(search_text__contains=digits)
    condition = Q()
    for word in query.split():
        lead = "" if any(ord(char) >= _CJK_START for char in word) else " "
        plain = "".join(unidecode(word).split()).lower()
        word_q = Q(search_text__contains=lead + word)
        if plain and plain != word:
            word_q |= Q(search_text__contains=" " + plain)
        condition &= word_q
    return condition


def search_members(*, merchant: Merchant, query: str) -> QuerySet[Member]:
    """Members of `merchant` matching `query`: "nguyen van an" finds "Nguyễn Văn An", "0903 123" a phone."""
    return Member.objects.of(merchant).filter(search_q(query))


def public_name(member: Member) -> str:
    """How another member is named to a member (their history, the portal's transfer question): the
    name, else the phone's last digits — never the whole phone."""
    name = member.full_name.strip()
    if name:
        return name
    phone = str(member.phone) if member.phone else ""
    return f"•••{phone[-4:]}" if phone else f"#{member.pk}"
