"""The members back office: list, search, detail, actions, segments, tags (C1–C3, C5, C6, B1–B3)."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse
from tests.factories import MemberFactory, StoreFactory, staff_user

from tessera.members import services
from tessera.members.models import Anniversary, Member, MemberStatus, Segment, Tag

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/members/member/"


def member_url(member: Member, suffix: str = "change/") -> str:
    return f"{CHANGELIST}{member.pk}/{suffix}"


def inline_management(total: int = 0, initial: int = 0) -> dict[str, str]:
    return {
        "anniversaries-TOTAL_FORMS": str(total),
        "anniversaries-INITIAL_FORMS": str(initial),
        "anniversaries-MIN_NUM_FORMS": "0",
        "anniversaries-MAX_NUM_FORMS": "1000",
    }


@pytest.fixture
def login(client):
    def as_staff(merchant, *roles):
        staff = staff_user(merchant, *roles)
        client.force_login(staff.user)
        return staff

    return as_staff


def test_b2_member_list_shows_only_the_merchants_members(client, login, merchant, other_merchant):
    MemberFactory(merchant=merchant, full_name="Nguyễn Văn An")
    MemberFactory(merchant=other_merchant, full_name="Foreign Customer")
    login(merchant, "cashier")

    page = client.get(CHANGELIST).content.decode()

    assert "Nguyễn Văn An" in page
    assert "Foreign Customer" not in page


def test_c1_admin_search_finds_vietnamese_names_without_accents_and_phone_fragments(client, login, merchant):
    MemberFactory(merchant=merchant, full_name="Nguyễn Văn An", phone="+84903123456")
    MemberFactory(merchant=merchant, full_name="Trần Thị Bình", phone="+84988777666")
    login(merchant, "cashier")

    by_name = client.get(CHANGELIST, {"q": "nguyen van an"}).content.decode()
    by_phone = client.get(CHANGELIST, {"q": "777 666"}).content.decode()

    assert "Nguyễn Văn An" in by_name and "Trần Thị Bình" not in by_name
    assert "Trần Thị Bình" in by_phone and "Nguyễn Văn An" not in by_phone


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ({"status__exact": "excluded"}, "Khoa", "Lan"),
        ({"birthday_month": "6"}, "Lan", "Khoa"),
        ({"region": "Huế"}, "Khoa", "Lan"),
        ({"gender__exact": "female"}, "Lan", "Khoa"),
    ],
)
def test_c6_member_list_filters(client, login, merchant, query, shown, hidden):
    MemberFactory(merchant=merchant, full_name="Lan", birthday=date(1990, 6, 1), gender="female")
    MemberFactory(merchant=merchant, full_name="Khoa", region="Huế", status=MemberStatus.EXCLUDED)
    login(merchant, "cashier")

    page = client.get(CHANGELIST, query).content.decode()

    assert f">{shown}<" in page
    assert f">{hidden}<" not in page


def test_c1_admin_add_registers_through_the_service(client, login, merchant):
    merchant.auto_activate_members = False
    merchant.save()
    vip = services.save_tag(merchant=merchant, name="VIP")
    staff = login(merchant, "cashier")

    response = client.post(
        f"{CHANGELIST}add/",
        {
            "phone": "0903 123 456",
            "full_name": "Nguyễn Văn An",
            "preferences": "No coriander",
            "tags": [vip.pk],
            "gender": "",
            **inline_management(1),
            "anniversaries-0-label": "Wedding",
            "anniversaries-0-date": "2020-10-20",
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    member = Member.objects.of(merchant).get()
    assert str(member.phone) == "+84903123456"
    assert member.status == MemberStatus.NOT_ACTIVATED
    assert "nguyen van an" in member.search_text
    assert list(member.tags.all()) == [vip]
    assert member.created_by == staff.user
    assert Anniversary.objects.get(member=member).merchant_id == merchant.pk


def test_c1_admin_add_refuses_a_taken_or_invalid_phone(client, login, merchant):
    MemberFactory(merchant=merchant, phone="+84903123456")
    login(merchant, "cashier")

    taken = client.post(f"{CHANGELIST}add/", {"phone": "0903123456", **inline_management()})
    invalid = client.post(f"{CHANGELIST}add/", {"phone": "12", **inline_management()})

    assert taken.status_code == invalid.status_code == 200
    # Errors are shown in the staff's language (the merchant's default, Vietnamese).
    assert "Một thành viên khác đã dùng số điện thoại này." in taken.content.decode()
    assert "không phải là số điện thoại hợp lệ" in invalid.content.decode()
    assert Member.objects.of(merchant).count() == 1


def test_c1_admin_change_updates_the_profile_but_not_the_phone(client, login, merchant):
    member = MemberFactory(merchant=merchant, full_name="Lê Minh", phone="+84903123456")
    login(merchant, "cashier")

    response = client.post(
        member_url(member),
        {"full_name": "Lê Minh Tuấn", "phone": "0911222333", "notes": "Prefers cash", **inline_management()},
    )

    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.full_name, member.notes, str(member.phone)) == (
        "Lê Minh Tuấn",
        "Prefers cash",
        "+84903123456",
    )
    assert "le minh tuan" in member.search_text
    assert member.history.count() == 2


def test_c1_detail_page_shows_status_and_preferences_first_and_the_history(client, login, merchant):
    member = MemberFactory(merchant=merchant, preferences="Wheelchair access", tags=["VIP"])
    services.update_member_profile(member=member, notes="Changed once")
    login(merchant, "cashier")

    page = client.get(member_url(member)).content.decode()
    history = client.get(member_url(member, "history/"))

    assert 'class="tessera-preferences"' in page
    assert page.index("member-header") < page.index('name="full_name"')
    assert "Wheelchair access" in page
    assert history.status_code == 200
    assert history.context["page_obj"].paginator.count == 2


def test_c2_exclude_asks_for_a_reason_then_excludes(client, login, merchant):
    member = MemberFactory(merchant=merchant)
    login(merchant, "store_manager")

    form = client.get(member_url(member, "exclude/"))
    empty = client.post(member_url(member, "exclude/"), {"reason": ""})
    done = client.post(member_url(member, "exclude/"), {"reason": "Fake receipts"}, follow=True)

    assert form.status_code == 200 and 'name="reason"' in form.content.decode()
    assert empty.status_code == 200
    member.refresh_from_db()
    assert member.status == MemberStatus.EXCLUDED
    assert member.status_reason == "Fake receipts"
    assert "đã bị loại trừ." in done.content.decode()


def test_c2_cashier_is_not_offered_and_cannot_use_exclude_or_reactivate(client, login, merchant):
    member = MemberFactory(merchant=merchant)
    login(merchant, "cashier")

    page = client.get(member_url(member)).content.decode()
    assert "/exclude/" not in page
    assert client.post(member_url(member, "exclude/"), {"reason": "x"}).status_code == 403

    services.exclude_member(member=member, reason="Abuse", actor=None)
    page = client.get(member_url(member)).content.decode()
    assert "/reactivate/" not in page and "/activate/" not in page
    assert client.post(member_url(member, "reactivate/"), {"confirm": "on"}).status_code == 403
    assert client.post(member_url(member, "activate/"), {"confirm": "on"}).status_code == 403
    member.refresh_from_db()
    assert member.status == MemberStatus.EXCLUDED


def test_c2_manager_reactivates_and_cashier_activates_from_the_detail_page(client, login, merchant):
    merchant.auto_activate_members = False
    merchant.save()
    waiting = MemberFactory(merchant=merchant, status=MemberStatus.NOT_ACTIVATED)
    excluded = MemberFactory(merchant=merchant, status=MemberStatus.EXCLUDED)

    login(merchant, "cashier")
    assert "/activate/" in client.get(member_url(waiting)).content.decode()
    client.post(member_url(waiting, "activate/"), {"confirm": "on"})
    login(merchant, "store_manager")
    client.post(member_url(excluded, "reactivate/"), {"confirm": "on"})

    waiting.refresh_from_db()
    excluded.refresh_from_db()
    assert waiting.status == excluded.status == MemberStatus.ACTIVE


def test_c2_bulk_activation_from_the_list(client, login, merchant):
    merchant.auto_activate_members = False
    merchant.save()
    members = [MemberFactory(merchant=merchant, status=MemberStatus.NOT_ACTIVATED) for _ in range(3)]
    login(merchant, "cashier")

    client.post(CHANGELIST, {"action": "activate_selected", "_selected_action": [m.pk for m in members[:2]]})

    assert [Member.objects.get(pk=m.pk).status for m in members] == ["active", "active", "not_activated"]


def test_c3_change_phone_page_opens_a_new_account(client, login, merchant):
    member = MemberFactory(merchant=merchant, full_name="Võ Hoàng", phone="+84903123456")
    login(merchant, "store_manager")

    response = client.post(member_url(member, "change-phone/"), {"new_phone": "0911 222 333"})

    member.refresh_from_db()
    new = member.superseded_by
    assert new is not None and str(new.phone) == "+84911222333" and new.full_name == "Võ Hoàng"
    assert response["Location"] == member_url(new)
    old_page = client.get(member_url(member)).content.decode()
    assert "Đã thay thế sau khi đổi số điện thoại" in old_page


def test_e2_the_cashier_sets_the_pin_the_member_types_and_sales_can_be_confirmed_with_it(
    client, login, merchant
):
    member = MemberFactory(merchant=merchant)
    login(merchant, "cashier")

    differ = client.post(member_url(member, "set-pin/"), {"pin": "2468", "pin_again": "2469"})
    done = client.post(member_url(member, "set-pin/"), {"pin": "2468", "pin_again": "2468"})

    member.refresh_from_db()
    assert differ.status_code == 200 and member.pin_hash.startswith("hmac-sha256$")
    assert done["Location"] == member_url(member)
    assert services.check_member_pin(member=member, pin="2468")
    assert not services.check_member_pin(member=member, pin="2469")


def test_e2_staff_without_the_change_permission_cannot_set_a_pin(client, login, merchant):
    member = MemberFactory(merchant=merchant)
    login(merchant, "finance")

    response = client.post(member_url(member, "set-pin/"), {"pin": "2468", "pin_again": "2468"})

    member.refresh_from_db()
    assert response.status_code in (302, 403)
    assert member.pin_hash == ""


def test_c3_change_phone_to_a_taken_phone_shows_the_error(client, login, merchant):
    member = MemberFactory(merchant=merchant)
    MemberFactory(merchant=merchant, phone="+84911222333")
    login(merchant, "store_manager")

    response = client.post(member_url(member, "change-phone/"), {"new_phone": "0911222333"})

    assert response.status_code == 200
    assert "Một thành viên khác đã dùng số điện thoại +84" in response.content.decode()
    assert Member.objects.of(merchant).count() == 2


def test_c5_erase_from_the_back_office_and_delete_leads_there(client, login, merchant):
    member = MemberFactory(merchant=merchant, full_name="Phạm Thu Hà")
    login(merchant, "merchant_admin")

    delete = client.get(member_url(member, "delete/"))
    client.post(member_url(member, "erase/"), {"confirm": "on"})

    assert delete["Location"] == member_url(member, "erase/")
    member.refresh_from_db()
    assert member.erased_at is not None and member.full_name == "" and member.phone is None
    assert Member.objects.filter(pk=member.pk).exists()


def test_c5_store_manager_cannot_erase(client, login, merchant):
    member = MemberFactory(merchant=merchant, full_name="Keep")
    login(merchant, "store_manager")

    assert client.post(member_url(member, "erase/"), {"confirm": "on"}).status_code == 403
    member.refresh_from_db()
    assert member.full_name == "Keep"


@pytest.mark.parametrize(
    "suffix",
    ["change/", "history/", "delete/", "exclude/", "activate/", "reactivate/", "change-phone/", "erase/"],
)
def test_a1_another_merchants_member_pages_are_404(client, login, merchant, other_merchant, suffix):
    foreign = MemberFactory(merchant=other_merchant, full_name="Secret", status=MemberStatus.EXCLUDED)
    login(merchant, "merchant_admin")

    assert client.get(member_url(foreign, suffix)).status_code == 404
    assert client.post(member_url(foreign, suffix), {"confirm": "on", "reason": "x"}).status_code == 404
    foreign.refresh_from_db()
    assert (foreign.full_name, foreign.status) == ("Secret", MemberStatus.EXCLUDED)


def test_a1_another_merchants_member_history_version_is_404(client, login, merchant, other_merchant):
    foreign = MemberFactory(merchant=other_merchant, full_name="Secret")
    version = foreign.history.first()
    login(merchant, "merchant_admin")

    assert client.get(member_url(foreign, f"history/{version.history_id}/")).status_code == 404


def test_b3_history_version_cannot_be_reverted_around_the_services(client, login, merchant):
    member = MemberFactory(merchant=merchant, full_name="Before")
    version = member.history.first()
    services.update_member_profile(member=member, full_name="After")
    login(merchant, "merchant_admin")

    assert client.get(member_url(member, f"history/{version.history_id}/")).status_code == 200
    response = client.post(member_url(member, f"history/{version.history_id}/"), {"full_name": "Before"})

    assert response.status_code == 404
    member.refresh_from_db()
    assert member.full_name == "After"


def test_c6_segment_admin_saves_filters_from_a_form_and_links_to_its_members(client, login, merchant):
    store = StoreFactory(merchant=merchant)
    MemberFactory(merchant=merchant, full_name="June Girl", birthday=date(1990, 6, 3), home_store=store)
    MemberFactory(merchant=merchant, full_name="May Boy", birthday=date(1990, 5, 3), home_store=store)
    login(merchant, "marketing")

    response = client.post(
        "/admin/members/segment/add/",
        {"name": "June birthdays", "birthday_month": "6", "home_stores": [store.pk], "gender": ""},
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    segment = Segment.objects.of(merchant).get()
    assert segment.filters == {"birthday_month": 6, "home_stores": [store.pk]}
    page = client.get(f"/admin/members/segment/{segment.pk}/change/").content.decode()
    assert f"{CHANGELIST}?segment={segment.pk}" in page
    assert 'name="birthday_month"' in page
    listed = client.get(CHANGELIST, {"segment": segment.pk}).content.decode()
    assert ">June Girl<" in listed and ">May Boy<" not in listed


def test_c6_segment_admin_shows_invalid_filters_as_form_errors(client, login, merchant):
    login(merchant, "marketing")

    response = client.post(
        "/admin/members/segment/add/", {"name": "Odd", "min_age": "40", "max_age": "30", "gender": ""}
    )

    assert response.status_code == 200
    assert "min_age must not be greater than max_age" in response.content.decode()
    assert not Segment.objects.exists()


def test_a1_another_merchants_segment_and_tag_pages_are_404(client, login, merchant, other_merchant):
    segment = services.save_segment(merchant=other_merchant, name="Theirs", filters={})
    tag = services.save_tag(merchant=other_merchant, name="Theirs")
    login(merchant, "merchant_admin")

    assert client.get(f"/admin/members/segment/{segment.pk}/change/").status_code == 404
    assert client.get(f"/admin/members/segment/{segment.pk}/history/").status_code == 404
    assert client.get(f"/admin/members/tag/{tag.pk}/change/").status_code == 404
    assert client.get(CHANGELIST, {"segment": segment.pk}).status_code == 200
    assert "Theirs" not in client.get("/admin/members/segment/").content.decode()


def test_tag_admin_adds_tags_unique_per_merchant(client, login, merchant, other_merchant):
    services.save_tag(merchant=other_merchant, name="VIP")
    login(merchant, "marketing")

    first = client.post("/admin/members/tag/add/", {"name": "VIP"})
    again = client.post("/admin/members/tag/add/", {"name": "vip"})

    assert first.status_code == 302
    assert again.status_code == 200
    assert list(Tag.objects.of(merchant).values_list("name", flat=True)) == ["VIP"]


def test_action_pages_have_stable_addresses():
    assert reverse("admin:members_member_erase_page", args=[1]) == "/admin/members/member/1/erase/"
    assert (
        reverse("admin:members_member_change_phone_page", args=[1]) == "/admin/members/member/1/change-phone/"
    )


def test_platform_operator_registers_a_member_for_a_chosen_merchant(client, merchant, other_merchant):
    from django.contrib.auth import get_user_model

    operator = get_user_model().objects.create_superuser("operator", "op@example.com", "x")
    client.force_login(operator)

    response = client.post(
        f"{CHANGELIST}add/",
        {"merchant": other_merchant.pk, "phone": "0903123456", "full_name": "王小明", **inline_management()},
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    member = Member.objects.get()
    assert (member.merchant_id, str(member.phone)) == (other_merchant.pk, "+84903123456")
