"""Issue 13 (web CPU): a stored phone number is parsed, validated and printed once per process per
distinct number; each read still gets its own object, equal to what phonenumber_field would give."""

from __future__ import annotations

import pytest
from phonenumber_field.phonenumber import PhoneNumber

from tessera.members.models import Member, StoredPhone
from tessera.members.services import register_member
from tessera.tenancy.services import create_merchant

pytestmark = pytest.mark.django_db


def test_a_stored_number_reads_as_phonenumber_field_would_read_it():
    merchant = create_merchant(name="Phones", slug="phones", currency="VND")
    member = register_member(merchant=merchant, full_name="An", phone="0903 123 456")
    first = Member.objects.get(pk=member.pk).phone
    second = Member.objects.get(pk=member.pk).phone
    library = PhoneNumber.from_string("+84903123456")
    assert isinstance(first, StoredPhone) and isinstance(first, PhoneNumber)
    assert first is not second  # each read its own object
    assert first == second == library
    assert str(first) == str(second) == str(library) == "+84903123456"
    assert first.is_valid() and second.is_valid()
    assert first.as_national == library.as_national
    assert hash(first) == hash(library)


def test_an_erased_phone_stays_empty():
    merchant = create_merchant(name="Erased", slug="erased", currency="VND")
    member = register_member(merchant=merchant, full_name="Bình", phone="0903 123 457")
    Member.objects.filter(pk=member.pk).update(phone=None)
    assert Member.objects.get(pk=member.pk).phone is None
