"""The back office's "Add points" page (E4, issue 14): the member by phone, card number or a suggestion
from their name, never another merchant's (A1); the points shown before saving, computed by the earning
rules (E5) exactly as saving computes them."""

from __future__ import annotations

import pytest
from django.urls import reverse
from tests.factories import MemberFactory, staff_user

from tessera.ledger.models import Account, AccountKind
from tessera.rules.tests.factories import make_rule
from tessera.sales.tests.conftest import active_card

pytestmark = pytest.mark.django_db

ADD_POINTS = reverse("admin:sales_add_points")
PREVIEW = reverse("admin:sales_add_points_preview")
SUGGEST = reverse("admin:sales_member_suggestions")


def balance(member) -> int:
    account = Account.objects.filter(member=member, kind=AccountKind.POINTS).first()
    return account.balance if account else 0


@pytest.fixture
def cashier(client, merchant, store):
    client.force_login(staff_user(merchant, "cashier", stores=[store]).user)
    return client


def test_e4_the_page_has_a_member_field_to_type_not_a_list_of_every_member(cashier, merchant, member):
    MemberFactory.create_batch(5, merchant=merchant)

    page = cashier.get(ADD_POINTS, {"member": member.pk}).content.decode()

    assert '<select name="member"' not in page
    assert 'name="member" value="+84903123456"' in page  # from the member's page: their phone
    assert 'id="member-suggestions"' in page and "sales/add_points.js" in page
    assert "Số tiền khách đã chi (₫)" in page  # the staff's language: Vietnamese
    assert 'id="points-preview"' in page


def test_e4_a_card_number_finds_its_member(cashier, store, member):
    card = active_card(member)

    response = cashier.post(ADD_POINTS, {"member": card.number, "store": store.pk, "amount_spent": "50.000"})

    assert response.status_code == 302
    assert balance(member) == 5


def test_e4_an_unknown_phone_is_refused_with_a_message(cashier, store, member):
    response = cashier.post(
        ADD_POINTS, {"member": "0912 000 000", "store": store.pk, "amount_spent": "50.000"}
    )

    assert response.status_code == 200
    assert [e.code for e in response.context["form"].errors.as_data()["member"]] == ["member_not_found"]
    assert "Không có thành viên nào có số điện thoại hoặc số thẻ này." in response.content.decode()
    assert balance(member) == 0


def test_e4_show_the_points_previews_without_saving(cashier, store, member):
    make_rule(member.merchant, "Three per 10k here", points=3, store_ids=[store.pk])
    typed = {"member": "0903123456", "store": store.pk, "amount_spent": "123.000"}

    shown = cashier.post(ADD_POINTS, {**typed, "_preview": "1"})
    saved = cashier.post(ADD_POINTS, typed)

    assert shown.status_code == 200 and shown.context["points_preview"] == "= 36 điểm"
    assert "= 36 điểm" in shown.content.decode()
    assert saved.status_code == 302
    assert balance(member) == 36  # what the preview said


def test_e5_the_live_preview_uses_the_earning_rules_of_the_store(cashier, store, store2, member):
    make_rule(member.merchant, "Three per 10k in Hoàn Kiếm", points=3, store_ids=[store.pk])

    here = cashier.get(PREVIEW, {"member": "0903123456", "store": store.pk, "amount_spent": "123.000"}).json()
    typed_points = cashier.get(PREVIEW, {"store": store.pk, "points": "7"}).json()
    unread = cashier.get(PREVIEW, {"store": store.pk, "amount_spent": "12.5"}).json()

    assert here["points"] == "= 36 điểm"
    assert here["member"].startswith("Nguyễn Văn An · +84903123456")
    assert typed_points["points"] == "= 7 điểm"
    assert unread["points"] == "" and "amount_spent" in unread["errors"]
    assert balance(member) == 0


def test_a1_suggestions_find_by_name_phone_and_card_only_in_the_staff_merchant(
    cashier, merchant, member, other_merchant
):
    card = active_card(member)
    MemberFactory(merchant=other_merchant, phone="+84903123457", full_name="Nguyễn Văn Anh")
    MemberFactory(merchant=merchant, phone="+84908888888", full_name="Trần Thị Bích")

    def values(query):
        return [row["value"] for row in cashier.get(SUGGEST, {"q": query}).json()["results"]]

    assert values("nguyen van") == ["+84903123456"]
    assert values("0903 123") == ["+84903123456"]
    assert values(card.number[:6]) == ["+84903123456"]
    assert values("bích") == ["+84908888888"]
    assert values("a") == []  # too short to suggest
    label = cashier.get(SUGGEST, {"q": "nguyen"}).json()["results"][0]["label"]
    assert card.number in label


def test_a1_the_preview_cannot_read_another_merchants_member(cashier, store, other_merchant):
    MemberFactory(merchant=other_merchant, phone="+84912345678", full_name="Lê Văn C")

    answer = cashier.get(
        PREVIEW, {"member": "0912345678", "store": store.pk, "amount_spent": "100.000"}
    ).json()

    assert answer["member"] == "" and "member" in answer["errors"]


def test_b1_the_json_answers_need_staff_with_the_permission(client, merchant, store):
    assert client.get(SUGGEST, {"q": "nguyen"}).status_code == 302  # to the sign-in page
    assert client.get(PREVIEW).status_code == 302
    client.force_login(staff_user(merchant, stores=[store]).user)  # no role
    assert client.get(SUGGEST, {"q": "nguyen"}).status_code == 403
    assert client.get(PREVIEW).status_code == 403
