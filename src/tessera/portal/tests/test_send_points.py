"""Issue 15 §6: a member sends points to another member from the portal, when the merchant allows it —
asked to confirm with the recipient named, sent once per form, within the merchant's limits, the lots
moving with their expiry dates and both histories showing it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from tests.factories import MemberFactory

from tessera.core.errors import Conflict, ValidationFailed
from tessera.ledger.models import Account, AccountKind, Entry, EntryKind, Lot
from tessera.ledger.selectors import verify_ledger
from tessera.members.models import MemberStatus
from tessera.portal import services
from tessera.portal.tests.test_portal import give_points, post_form, sign_in, url

pytestmark = pytest.mark.django_db


@pytest.fixture
def friend(merchant):
    return MemberFactory(merchant=merchant, phone="+84903999888", full_name="Trần Thị Bình")


def allow(merchant, **limits):
    return services.update_portal_settings(merchant=merchant, members_may_transfer=True, **limits)


def balance(member):
    return Account.objects.get(member=member, kind=AccountKind.POINTS).balance


def send(client, merchant, *, key="form-1", confirmed=True, **fields):
    form = {
        "idempotency_key": key,
        "phone": "0903999888",
        "points": "300",
        "message": "Quà sinh nhật",
        **fields,
    }
    if confirmed:
        form["confirmed"] = "1"
    return post_form(client, url("send_points", merchant), form)


def test_the_form_is_offered_only_when_the_merchant_allows_it(client, merchant, member):
    give_points(member, 500)
    sign_in(client, member)

    assert 'id="send-points"' not in client.get(url("home", merchant)).content.decode()
    refused = send(client, merchant)
    allow(merchant)
    offered = client.get(url("home", merchant)).content.decode()

    assert refused.status_code == 302 and balance(member) == 500
    assert 'id="send-points"' in offered and 'max="500"' in offered


def test_the_member_confirms_on_a_page_naming_the_recipient_and_nothing_moves_before(
    client, merchant, member, friend
):
    allow(merchant)
    give_points(member, 500)
    sign_in(client, member)

    asked = send(client, merchant, confirmed=False)

    page = asked.content.decode()
    assert asked.status_code == 200
    assert "Gửi 300 điểm cho Trần Thị Bình?" in page
    # The confirmation carries the form as sent, under the same key.
    for hidden in ('name="phone" value="0903999888"', 'name="points" value="300"', 'value="form-1"'):
        assert hidden in page
    assert balance(member) == 500 and not Account.objects.filter(member=friend).exists()


def test_sent_once_per_form_with_lots_and_histories(client, merchant, member, friend):
    allow(merchant)
    expires = timezone.now() + timedelta(days=40)
    give_points(member, 500, expires_at=expires)
    sign_in(client, member)

    first = send(client, merchant)
    again = send(client, merchant)

    assert first.status_code == again.status_code == 302
    assert (balance(member), balance(friend)) == (200, 300)
    [lot] = Lot.objects.filter(account__member=friend)
    assert (lot.remaining, lot.expires_at) == (300, expires)
    out = Entry.objects.get(account__member=member, kind=EntryKind.TRANSFER)
    assert out.source.startswith("portal_transfer:") and out.reason == "Quà sinh nhật"
    history = client.get(url("history", merchant)).content.decode()
    assert "Trần Thị Bình" in history
    assert verify_ledger(merchant) == []


@pytest.mark.parametrize(
    ("fields", "code_text"),
    [
        ({"phone": "0903000000"}, "Không có thành viên nào có số điện thoại này."),
        ({"phone": "0903123456"}, "Không thể chuyển điểm cho chính thành viên đó."),
        ({"points": "0"}, "Hãy nhập số điểm dương."),
        ({"points": "abc"}, "Hãy nhập số điểm dương."),
        ({"points": "5000"}, "không đủ"),
    ],
)
def test_refusals_say_why_and_move_nothing(client, merchant, member, friend, fields, code_text):
    allow(merchant)
    give_points(member, 500)
    sign_in(client, member)

    response = send(client, merchant, **fields)

    assert response.status_code == 302
    shown = client.get(url("home", merchant)).content.decode()
    assert code_text in shown
    assert balance(member) == 500


def test_an_excluded_member_cannot_be_found_as_recipient(client, merchant, member, friend):
    allow(merchant)
    give_points(member, 500)
    friend.status = MemberStatus.EXCLUDED
    friend.save()
    sign_in(client, member)

    send(client, merchant)

    assert balance(member) == 500


def test_the_merchants_limits_per_transfer_and_per_day_in_its_zone(merchant, member, friend):
    allow(merchant, transfer_max_points=200, transfers_per_day=2)
    give_points(member, 1000)
    # 23:30 and 23:50 on 5 December in Hồ Chí Minh City, then 00:10 on the 6th.
    evening = datetime(2026, 12, 5, 16, 30, tzinfo=UTC)

    with pytest.raises(ValidationFailed) as over:
        services.send_points(member=member, phone="0903999888", points=201, now=evening)
    services.send_points(member=member, phone="0903999888", points=100, now=evening)
    services.send_points(member=member, phone="0903999888", points=100, now=evening + timedelta(minutes=20))
    with pytest.raises(Conflict) as third:
        services.send_points(
            member=member, phone="0903999888", points=100, now=evening + timedelta(minutes=25)
        )
    services.send_points(member=member, phone="0903999888", points=100, now=evening + timedelta(minutes=40))

    assert over.value.code == "transfer_over_limit" and third.value.code == "transfers_per_day_reached"
    assert (balance(member), balance(friend)) == (700, 300)
