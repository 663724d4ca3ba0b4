"""I3, I4: automatic notices — after a purchase, points about to expire, tier change (service notices),
birthday, anniversary and holiday greetings (marketing), each once per occasion."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from tests.factories import MemberFactory, StoreFactory

from tessera.ledger.models import Account, AccountKind, ExpiryNotice
from tessera.marketing import delivery, notices, selectors
from tessera.marketing.models import (
    CalendarKind,
    ChannelKind,
    Holiday,
    Message,
    MessageStatus,
    NoticeKind,
    NoticeRule,
    Trigger,
)
from tessera.marketing.tests.factories import TemplateFactory
from tessera.members.models import Anniversary
from tessera.points.services import save_policy
from tessera.sales import services as sales
from tessera.sales.models import SalesSettings

pytestmark = pytest.mark.django_db

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def _rule(merchant, kind, body, channel=ChannelKind.SMS, **template):
    template = TemplateFactory(merchant=merchant, channel=channel, body_vi=body, **template)
    return NoticeRule.objects.create(merchant=merchant, kind=kind, template=template)


def _sale(merchant, member, capture):
    SalesSettings.for_merchant(merchant)
    SalesSettings.objects.filter(merchant=merchant).update(
        confirm_with_pin=False, confirm_with_otp=False, confirm_with_staff=False
    )
    save_policy(merchant=merchant, pending_days=0)
    store = StoreFactory(merchant=merchant)
    sale = sales.create_transaction(
        merchant=merchant, store=store, member=member, lines=[sales.SaleLine("Phở bò", 2, 65000)]
    )
    with capture(execute=True):
        sales.confirm_transaction(transaction=sale, method="none")
    return sale


def test_i3_a_confirmed_sale_sends_the_member_the_points_earned_and_balance_without_marketing_consent(
    merchant, sms_log, django_capture_on_commit_callbacks
):
    _rule(
        merchant,
        NoticeKind.AFTER_SALE,
        "{{ merchant }}: +{{ points_earned }} điểm cho {{ amount }}. Số dư: {{ points }} điểm.",
    )
    member = MemberFactory(merchant=merchant, phone="+84901110000", marketing_sms=False)

    sale = _sale(merchant, member, django_capture_on_commit_callbacks)

    [message] = Message.objects.all()
    assert (message.status, message.trigger, message.trigger_ref, message.is_marketing) == (
        MessageStatus.SENT,
        Trigger.AFTER_SALE,
        f"sale:{sale.pk}",
        False,
    )
    assert message.body == "Phở Hà Nội: +13 điểm cho 130.000\xa0₫. Số dư: 13 điểm."
    assert sms_log.messages()[-1]["text"] == message.body


def test_i3_the_same_sale_event_twice_gives_one_notice(merchant, sms_log):
    _rule(merchant, NoticeKind.AFTER_SALE, "+{{ points_earned }}")
    member = MemberFactory(merchant=merchant)
    payload = {"transaction_id": 99, "member_id": member.pk, "points_earned": 5, "amount_due": 50000}

    first = notices.notify_event(merchant_id=merchant.pk, type="sale.confirmed", payload=payload)
    again = notices.notify_event(merchant_id=merchant.pk, type="sale.confirmed", payload=payload)

    assert [m.pk for m in first] == [m.pk for m in again]
    assert Message.objects.count() == 1


def test_i3_no_rule_no_notice_and_an_inactive_rule_is_silent(merchant, sms_log):
    member = MemberFactory(merchant=merchant)
    payload = {"transaction_id": 1, "member_id": member.pk}
    assert notices.notify_event(merchant_id=merchant.pk, type="sale.confirmed", payload=payload) == []
    rule = _rule(merchant, NoticeKind.AFTER_SALE, "x")
    rule.is_active = False
    rule.save()
    assert notices.notify_event(merchant_id=merchant.pk, type="sale.confirmed", payload=payload) == []


def test_i4_an_excluded_member_gets_no_service_notice_either(merchant, sms_log):
    _rule(merchant, NoticeKind.TIER_CHANGED, "Hạng mới: {{ tier }}")
    member = MemberFactory(merchant=merchant, status="excluded")

    [message] = notices.notify_event(
        merchant_id=merchant.pk,
        type="member.tier_changed",
        payload={"member_id": member.pk, "to": "gold", "at": "2026-01-01T00:00:00+00:00"},
    )

    assert message.status == MessageStatus.SKIPPED_NO_CONSENT and message.error == "member excluded"
    delivery.drain()
    assert sms_log.messages() == []


def test_i3_a_tier_change_names_the_new_tier(merchant, sms_log):
    from tessera.tiers.models import Tier

    Tier.objects.create(merchant=merchant, code="gold", name="Vàng", rank=2, threshold=1000)
    _rule(merchant, NoticeKind.TIER_CHANGED, "Chúc mừng {{ name }} lên hạng {{ tier }}!")
    member = MemberFactory(merchant=merchant, full_name="An")

    [message] = notices.notify_event(
        merchant_id=merchant.pk,
        type="member.tier_changed",
        payload={"member_id": member.pk, "to": "gold", "at": "2026-01-01T00:00:00+00:00"},
    )

    assert message.body == "Chúc mừng An lên hạng Vàng!"


def test_i3_points_about_to_expire_are_announced_once_per_ledger_notice(merchant, sms_log):
    _rule(merchant, NoticeKind.POINTS_EXPIRING, "{{ expiring_points }} điểm hết hạn ngày {{ expiry_date }}.")
    member = MemberFactory(merchant=merchant)
    account = Account.objects.create(merchant=merchant, member=member, kind=AccountKind.POINTS, balance=2000)
    now = datetime(2026, 3, 1, 2, 0, tzinfo=HCM)
    notice = ExpiryNotice.objects.create(
        merchant=merchant, account=account, amount=1500, expires_at=datetime(2026, 3, 14, 23, 0, tzinfo=HCM)
    )

    assert notices.send_expiry_notices(now=now) == 1
    assert notices.send_expiry_notices(now=now + timedelta(hours=1)) == 0

    [message] = Message.objects.all()
    assert (message.trigger, message.trigger_ref, message.status) == (
        Trigger.POINTS_EXPIRING,
        str(notice.pk),
        MessageStatus.QUEUED,
    )
    assert message.body == "1.500 điểm hết hạn ngày 14-03-2026."


def test_i3_birthday_greetings_go_once_a_year_to_consenting_members_on_the_merchants_day(merchant, sms_log):
    _rule(merchant, NoticeKind.BIRTHDAY, "Chúc mừng sinh nhật {{ name }}!", strip_diacritics=True)
    born = date(1990, 6, 2)
    yes = MemberFactory(merchant=merchant, full_name="Lan", birthday=born, marketing_sms=True)
    no = MemberFactory(merchant=merchant, full_name="Hoa", birthday=born, marketing_sms=False)
    MemberFactory(merchant=merchant, full_name="Cúc", birthday=date(1990, 6, 3), marketing_sms=True)
    # 1 June 23:30 UTC is already 2 June 06:30 in Hồ Chí Minh City: before the 9:00 greeting hour.
    early = datetime(2026, 6, 1, 23, 30, tzinfo=ZoneInfo("UTC"))
    assert notices.send_greetings(now=early) == 0

    later = early + timedelta(hours=3)
    assert notices.send_greetings(now=later) == 2
    assert notices.send_greetings(now=later + timedelta(hours=1)) == 0

    assert {m.member_id: m.status for m in Message.objects.all()} == {
        yes.pk: MessageStatus.QUEUED,
        no.pk: MessageStatus.SKIPPED_NO_CONSENT,
    }
    assert Message.objects.get(member=yes).trigger_ref == "2026"
    delivery.drain(now=later)
    assert [m["text"] for m in sms_log.messages()] == ["Chuc mung sinh nhat Lan!"]


def test_i3_a_29_february_birthday_is_greeted_on_28_february_in_other_years(merchant):
    _rule(merchant, NoticeKind.BIRTHDAY, "Happy birthday")
    member = MemberFactory(merchant=merchant, birthday=date(2000, 2, 29), marketing_sms=True)

    notices.send_greetings(now=datetime(2027, 2, 28, 10, 0, tzinfo=HCM))

    assert Message.objects.get().member_id == member.pk


def test_i3_anniversaries_are_greeted_with_their_occasion(merchant):
    _rule(merchant, NoticeKind.ANNIVERSARY, "Chúc mừng {{ occasion }}, {{ name }}!")
    member = MemberFactory(merchant=merchant, full_name="Minh", marketing_sms=True)
    Anniversary.objects.create(merchant=merchant, member=member, label="ngày cưới", date=date(2015, 9, 20))

    notices.send_greetings(now=datetime(2026, 9, 20, 10, 0, tzinfo=HCM))
    notices.send_greetings(now=datetime(2026, 9, 20, 11, 0, tzinfo=HCM))

    [message] = Message.objects.all()
    assert message.body == "Chúc mừng ngày cưới, Minh!" and message.trigger == Trigger.ANNIVERSARY


def test_i3_tet_is_greeted_on_lunar_new_year_in_the_merchants_calendar(merchant, other_merchant):
    vi = TemplateFactory(merchant=merchant, body_vi="Chúc mừng năm mới {{ occasion }}!")
    zh = TemplateFactory(merchant=other_merchant, body_vi="", body_zh_hans="{{ name }}，{{ occasion }}快乐！")
    Holiday.objects.create(
        merchant=merchant, name="Tết", calendar=CalendarKind.LUNAR, month=1, day=1, template=vi
    )
    Holiday.objects.create(
        merchant=other_merchant, name="春节", calendar=CalendarKind.LUNAR, month=1, day=1, template=zh
    )
    MemberFactory(merchant=merchant, marketing_sms=True)
    MemberFactory(merchant=other_merchant, full_name="小明", phone="+8613800138000", marketing_sms=True)

    # 1985: Tết on 21 January in Vietnam, the Spring Festival on 20 February in China.
    notices.send_greetings(now=datetime(1985, 1, 21, 10, 0, tzinfo=HCM))
    assert list(Message.objects.values_list("merchant_id", "trigger_ref")) == [
        (merchant.pk, f"{Holiday.objects.get(merchant=merchant).pk}:L1985")
    ]
    notices.send_greetings(now=datetime(1985, 2, 20, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    chinese = Message.objects.get(merchant=other_merchant)
    assert chinese.body == "小明，春节快乐！" and chinese.language == "zh-hans"


def test_i3_a_solar_holiday_and_the_next_date_of_a_lunar_one(merchant):
    template = TemplateFactory(merchant=merchant, body_vi="Chúc mừng {{ occasion }}")
    women = Holiday.objects.create(
        merchant=merchant, name="8/3", calendar=CalendarKind.SOLAR, month=3, day=8, template=template
    )
    mid_autumn = Holiday.objects.create(
        merchant=merchant, name="Trung thu", calendar=CalendarKind.LUNAR, month=8, day=15, template=template
    )
    MemberFactory(merchant=merchant, marketing_sms=True)

    notices.send_greetings(now=datetime(2026, 3, 8, 9, 5, tzinfo=HCM))

    assert Message.objects.get().trigger_ref == f"{women.pk}:2026"
    assert selectors.next_occurrence(mid_autumn, today=date(2025, 9, 1)) == date(2025, 10, 6)
    assert selectors.next_occurrence(women, today=date(2026, 3, 9)) == date(2027, 3, 8)


def test_i3_a_holiday_greeting_reaches_many_members_in_one_pass(merchant):
    template = TemplateFactory(merchant=merchant, body_vi="Chúc mừng {{ occasion }}, {{ name }}")
    Holiday.objects.create(
        merchant=merchant, name="Quốc khánh", calendar=CalendarKind.SOLAR, month=9, day=2, template=template
    )
    for i in range(30):
        MemberFactory(merchant=merchant, marketing_sms=i % 3 != 0)
    now = timezone.make_aware(datetime(2026, 9, 2, 10, 0), HCM)

    assert notices.send_greetings(now=now) == 30
    assert Message.objects.filter(status=MessageStatus.QUEUED).count() == 20
    assert Message.objects.filter(status=MessageStatus.SKIPPED_NO_CONSENT).count() == 10
