"""Member writes: identity by phone (C1, C3), status (C2), erasure (C5), PIN."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from tests.factories import MemberFactory, StoreFactory, staff_user

from tessera.core.errors import Conflict, DomainError, PermissionDenied, ValidationFailed
from tessera.ledger.models import Account
from tessera.members import services
from tessera.members.models import Member, MemberStatus, Tag
from tessera.members.selectors import find_member_by_phone
from tessera.members.tests.factories import give_points

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0903 123 456", "+84903123456"),
        ("090-312-3456", "+84903123456"),
        ("+84 90 312 3456", "+84903123456"),
        ("84903123456", "+84903123456"),
        (" 0903.123.456 ", "+84903123456"),
        ("+86 138 0013 8000", "+8613800138000"),
    ],
)
def test_c1_phone_is_normalised_to_e164_reading_local_numbers_as_the_merchants_country(
    merchant, raw, expected
):
    assert services.normalise_phone(raw, merchant=merchant) == expected


def test_c1_chinese_local_number_is_read_as_chinese_for_a_cn_merchant(other_merchant):
    other_merchant.country = "CN"
    assert services.normalise_phone("138 0013 8000", merchant=other_merchant) == "+8613800138000"


@pytest.mark.parametrize("raw", ["", "   ", "abc", "0903", "+84 12", "123456789012345678"])
def test_c1_invalid_phone_is_refused_with_a_stable_code(merchant, raw):
    with pytest.raises(ValidationFailed) as caught:
        services.normalise_phone(raw, merchant=merchant)
    assert caught.value.code == "invalid_phone"


def test_c1_register_stores_the_profile_the_normalised_phone_and_the_home_store(merchant):
    store = StoreFactory(merchant=merchant)
    member = services.register_member(
        merchant=merchant,
        phone="0903 123 456",
        store=store,
        full_name="Nguyễn Văn An",
        email="An@Example.com",
        birthday=date(1990, 5, 17),
        preferences="Không hành",
        tags=["VIP", "Gần nhà"],
    )

    member.refresh_from_db()
    assert str(member.phone) == "+84903123456"
    assert member.home_store == store
    assert member.birthday == date(1990, 5, 17)
    assert sorted(member.tags.values_list("name", flat=True)) == ["Gần nhà", "VIP"]
    assert "nguyen van an" in member.search_text
    assert "0903123456" in member.search_text
    assert "an@example.com" in member.search_text
    assert member.history.count() == 1


def test_c1_phone_is_unique_per_merchant(merchant):
    services.register_member(merchant=merchant, phone="0903123456")

    with pytest.raises(Conflict) as caught:
        services.register_member(merchant=merchant, phone="+84 90 312 3456")
    assert caught.value.code == "phone_taken"
    assert Member.objects.of(merchant).count() == 1


def test_c1_the_same_phone_may_belong_to_members_of_two_merchants(merchant, other_merchant):
    a = services.register_member(merchant=merchant, phone="0903123456")
    b = services.register_member(merchant=other_merchant, phone="+84903123456")

    assert a.pk != b.pk
    assert str(a.phone) == str(b.phone) == "+84903123456"


def test_c1_register_refuses_a_store_of_another_merchant(merchant, other_merchant):
    with pytest.raises(ValidationFailed) as caught:
        services.register_member(
            merchant=merchant, phone="0903123456", store=StoreFactory(merchant=other_merchant)
        )
    assert caught.value.code == "cross_merchant"


def test_c1_invalid_profile_is_refused(merchant):
    with pytest.raises(ValidationFailed) as caught:
        services.register_member(merchant=merchant, phone="0903123456", email="not-an-email")
    assert caught.value.code == "invalid_profile"
    assert "email" in caught.value.detail["errors"]


def test_c2_new_member_is_active_when_the_merchant_activates_automatically(merchant):
    member = services.register_member(merchant=merchant, phone="0903123456")
    assert member.status == MemberStatus.ACTIVE
    services.ensure_can_transact(member)


def test_c2_new_member_waits_for_activation_when_the_merchant_activates_by_hand(merchant):
    merchant.auto_activate_members = False
    merchant.save()
    member = services.register_member(merchant=merchant, phone="0903123456")

    assert member.status == MemberStatus.NOT_ACTIVATED
    with pytest.raises(DomainError) as caught:
        services.ensure_can_transact(member)
    assert caught.value.code == "member_not_active"

    services.activate_member(member=member, actor=staff_user(merchant, "cashier").user)
    member.refresh_from_db()
    assert member.status == MemberStatus.ACTIVE
    assert member.status_changed_at is not None


def test_c2_excluded_member_cannot_earn_or_spend(merchant):
    member = MemberFactory(merchant=merchant)
    manager = staff_user(merchant, "store_manager").user

    services.exclude_member(member=member, reason="Fraudulent receipts", actor=manager)

    member.refresh_from_db()
    assert member.status == MemberStatus.EXCLUDED
    assert member.status_reason == "Fraudulent receipts"
    with pytest.raises(DomainError) as caught:
        services.ensure_can_transact(member)
    assert caught.value.code == "member_not_active"


def test_c2_excluding_needs_a_reason(merchant):
    member = MemberFactory(merchant=merchant)
    with pytest.raises(ValidationFailed) as caught:
        services.exclude_member(member=member, reason="  ", actor=None)
    assert caught.value.code == "reason_required"


def test_c2_excluded_member_cannot_be_activated_by_a_cashier(merchant):
    member = MemberFactory(merchant=merchant)
    services.exclude_member(member=member, reason="Abuse", actor=None)
    cashier = staff_user(merchant, "cashier").user

    with pytest.raises(DomainError) as activating:
        services.activate_member(member=member, actor=cashier)
    assert activating.value.code == "member_excluded"
    with pytest.raises(PermissionDenied) as reactivating:
        services.reactivate_member(member=member, actor=cashier)
    assert reactivating.value.code == "permission_denied"
    member.refresh_from_db()
    assert member.status == MemberStatus.EXCLUDED


def test_c2_store_manager_reactivates_an_excluded_member(merchant):
    member = MemberFactory(merchant=merchant)
    services.exclude_member(member=member, reason="Abuse", actor=None)

    services.reactivate_member(member=member, actor=staff_user(merchant, "store_manager").user)

    member.refresh_from_db()
    assert member.status == MemberStatus.ACTIVE
    assert member.status_reason == ""
    services.ensure_can_transact(member)


def test_c2_transitions_that_make_no_sense_are_refused(merchant):
    member = MemberFactory(merchant=merchant)
    with pytest.raises(DomainError) as activating:
        services.activate_member(member=member)
    with pytest.raises(DomainError) as reactivating:
        services.reactivate_member(member=member)
    assert activating.value.code == reactivating.value.code == "invalid_transition"


def test_b1_staff_of_another_merchant_cannot_change_a_members_status(merchant, other_merchant):
    member = MemberFactory(merchant=merchant)
    with pytest.raises(PermissionDenied) as caught:
        services.exclude_member(
            member=member, reason="x", actor=staff_user(other_merchant, "merchant_admin").user
        )
    assert caught.value.code == "cross_merchant"


def test_c1_profile_update_changes_details_and_search_text_but_never_the_phone(merchant):
    member = MemberFactory(merchant=merchant, full_name="An")

    services.update_member_profile(member=member, full_name="Trần Thị Bích", tags=["VIP"], region="Hà Nội")
    member.refresh_from_db()
    assert member.full_name == "Trần Thị Bích"
    assert "tran thi bich" in member.search_text
    assert list(member.tags.values_list("name", flat=True)) == ["VIP"]
    assert Tag.objects.of(merchant).count() == 1

    with pytest.raises(ValidationFailed) as caught:
        services.update_member_profile(member=member, phone="0911222333")
    assert caught.value.code == "phone_not_changeable"
    with pytest.raises(ValidationFailed) as unknown:
        services.update_member_profile(member=member, status=MemberStatus.EXCLUDED)
    assert unknown.value.code == "unknown_field"


def test_c3_phone_change_keeps_the_old_account_and_opens_a_fresh_one(merchant):
    store = StoreFactory(merchant=merchant)
    old = services.register_member(
        merchant=merchant, phone="0903123456", store=store, full_name="Lê Minh", tags=["VIP"], notes="Quiet"
    )
    give_points(old, 500, at=datetime(2026, 1, 5, tzinfo=UTC))
    manager = staff_user(merchant, "store_manager").user

    new = services.change_phone(member=old, new_phone="0911 222 333", actor=manager)

    old.refresh_from_db()
    assert old.superseded_by == new
    assert str(old.phone) == "+84903123456"
    assert Account.objects.get(member=old).balance == 500
    assert new.pk != old.pk
    assert str(new.phone) == "+84911222333"
    assert (new.full_name, new.notes, new.home_store) == ("Lê Minh", "Quiet", store)
    assert list(new.tags.values_list("name", flat=True)) == ["VIP"]
    assert not Account.objects.filter(member=new).exists()
    assert new.status == MemberStatus.ACTIVE
    assert find_member_by_phone(merchant=merchant, phone="0903123456") is None
    assert find_member_by_phone(merchant=merchant, phone="0911222333") == new
    with pytest.raises(DomainError) as caught:
        services.ensure_can_transact(old)
    assert caught.value.code == "member_not_active"


def test_c3_the_old_phone_can_register_again_after_a_phone_change(merchant):
    old = MemberFactory(merchant=merchant, phone="+84903123456")
    services.change_phone(member=old, new_phone="0911222333", actor=None)

    again = services.register_member(merchant=merchant, phone="0903123456")
    assert again.is_current


def test_c3_phone_change_needs_its_permission_and_a_free_phone(merchant):
    member = MemberFactory(merchant=merchant)
    MemberFactory(merchant=merchant, phone="+84911222333")

    with pytest.raises(PermissionDenied):
        services.change_phone(
            member=member, new_phone="0922333444", actor=staff_user(merchant, "cashier").user
        )
    with pytest.raises(Conflict) as taken:
        services.change_phone(member=member, new_phone="0911222333", actor=None)
    assert taken.value.code == "phone_taken"
    assert Member.objects.of(merchant).count() == 2


def test_c3_new_account_waits_for_activation_when_the_merchant_activates_by_hand(merchant):
    member = MemberFactory(merchant=merchant)
    merchant.auto_activate_members = False
    merchant.save()

    new = services.change_phone(member=member, new_phone="0911222333", actor=None)
    assert new.status == MemberStatus.NOT_ACTIVATED


def test_c5_erase_removes_personal_data_from_the_row_and_its_history_but_keeps_the_books(merchant):
    member = services.register_member(
        merchant=merchant,
        phone="0903123456",
        full_name="Phạm Thu Hà",
        email="ha@example.com",
        address="12 Hàng Bạc",
        birthday=date(1988, 3, 8),
        id_number="001188000123",
        notes="Allergic to peanuts",
        preferences="Window seat",
        tags=["VIP"],
    )
    services.update_member_profile(member=member, full_name="Phạm Thu Hà (Mrs)")
    services.set_member_pin(member=member, pin="1234")
    entry = give_points(member, 300, at=datetime(2026, 2, 1, tzinfo=UTC))
    admin = staff_user(merchant, "merchant_admin").user

    services.erase_member(member=member, actor=admin)

    member.refresh_from_db()
    assert member.erased_at is not None
    assert member.status == MemberStatus.EXCLUDED
    assert member.phone is None
    assert (member.full_name, member.email, member.address, member.id_number) == ("", "", "", "")
    assert (member.notes, member.preferences, member.pin_hash, member.search_text) == ("", "", "", "")
    assert member.birthday is None
    assert not member.tags.exists()
    history = list(member.history.all())
    assert len(history) >= 3
    for row in history:
        assert row.phone is None
        assert (row.full_name, row.email, row.address, row.id_number, row.notes) == ("", "", "", "", "")
        assert row.birthday is None
    assert Account.objects.get(pk=entry.account_id).member_id == member.pk
    assert Account.objects.get(pk=entry.account_id).balance == 300
    assert services.register_member(merchant=merchant, phone="0903123456").is_current


def test_c5_erase_also_scrubs_the_accounts_replaced_by_phone_changes(merchant):
    first = MemberFactory(merchant=merchant, full_name="Võ Hoàng")
    second = services.change_phone(member=first, new_phone="0911222333", actor=None)

    services.erase_member(member=second, actor=None)

    first.refresh_from_db()
    assert (first.full_name, first.phone, first.erased_at is not None) == ("", None, True)
    assert not first.history.exclude(full_name="").exists()


def test_c5_erase_needs_the_delete_permission(merchant):
    member = MemberFactory(merchant=merchant, full_name="Keep")
    with pytest.raises(PermissionDenied):
        services.erase_member(member=member, actor=staff_user(merchant, "store_manager").user)
    member.refresh_from_db()
    assert member.full_name == "Keep"


def test_member_pin_is_stored_hashed_and_checked(merchant):
    member = MemberFactory(merchant=merchant)
    assert services.check_member_pin(member=member, pin="1234") is False

    services.set_member_pin(member=member, pin="482913")

    member.refresh_from_db()
    assert "482913" not in member.pin_hash
    assert services.check_member_pin(member=member, pin="482913") is True
    assert services.check_member_pin(member=member, pin="482914") is False
    assert not hasattr(member.history.model, "pin_hash")


@pytest.mark.parametrize("pin", ["123", "1234567", "12a4", ""])
def test_member_pin_must_be_4_to_6_digits(merchant, pin):
    member = MemberFactory(merchant=merchant)
    with pytest.raises(ValidationFailed) as caught:
        services.set_member_pin(member=member, pin=pin)
    assert caught.value.code == "invalid_pin"


@pytest.mark.parametrize(
    "e164",
    ["+84912345678", "+842838234567", "+8613800138000", "+861088886666", "+6591234567", "+12025550123"],
)
def test_c1_search_text_has_the_national_digits_phonenumbers_formats(e164):
    """Issue 16: the national digits come from a prefix shared by numbers of the same leading digits."""
    services._national_prefix.cache_clear()
    expected = services._formatted_national_digits(e164)
    assert services._national_digits(e164) == expected
    assert services._national_digits(e164) == expected  # from the cache
