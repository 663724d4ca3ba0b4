"""D2: card numbers carry a Luhn check digit; readers type them, QR codes carry them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tessera.cards.numbering import clean_number, compose_number, is_valid_number, luhn_digit


def test_luhn_check_digit_of_the_textbook_example():
    assert luhn_digit("7992739871") == "3"
    assert is_valid_number("79927398713")
    assert not is_valid_number("79927398710")


def test_number_is_prefix_then_eight_digit_sequence_then_check_digit():
    number = compose_number("8868", 17)
    assert number[:12] == "886800000017"
    assert len(number) == 13
    assert is_valid_number(number)


def test_non_digits_are_never_valid_numbers():
    assert not is_valid_number("88680000001A")
    assert not is_valid_number("")


def test_spaces_and_dashes_typed_by_people_are_ignored():
    assert clean_number(" 8868 0000-0017 3 ") == "8868000000173"


@given(
    prefix=st.from_regex(r"[0-9]{0,8}", fullmatch=True), sequence=st.integers(1, 10**8 - 1), data=st.data()
)
def test_a_single_mistyped_digit_is_always_caught(prefix, sequence, data):
    number = compose_number(prefix, sequence)
    assert is_valid_number(number)
    position = data.draw(st.integers(0, len(number) - 1))
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != number[position]]))
    assert not is_valid_number(number[:position] + wrong + number[position + 1 :])


def test_unicode_digits_are_not_card_digits():
    assert not is_valid_number("\u0660" + compose_number("", 1)[1:])
