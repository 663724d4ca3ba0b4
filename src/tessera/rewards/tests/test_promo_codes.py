"""E8: a member turns points into a unique promo code; the POS and the online shop validate and consume
it, each use exactly once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from tests.factories import staff_user

from tessera.core.errors import DomainError
from tessera.ledger.models import EntryKind
from tessera.members.models import MemberStatus
from tessera.rewards import selectors, services
from tessera.rewards.models import CodeStatus, CodeValueKind, PromoCode, PromoCodeUse
from tessera.rewards.tests.conftest import give_points, points_of
from tessera.rewards.tests.factories import PromoCodeOfferFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def offer(merchant):
    """200 points for 50,000 đồng off, valid 30 days, one use."""
    return PromoCodeOfferFactory(merchant=merchant, name="50k off")


@pytest.fixture
def code(member, store, offer):
    give_points(member, store, 500)
    return services.redeem_points_for_code(member=member, offer=offer, channel="portal")


def test_e8_points_become_a_unique_code_with_value_validity_and_uses(member, offer, code):
    assert points_of(member) == 300
    assert len(code.code) == services.CODE_LENGTH
    assert set(code.code) <= set(services.CODE_ALPHABET)
    assert (code.value_kind, code.amount, code.usage_limit, code.uses_left, code.points) == (
        CodeValueKind.AMOUNT,
        50_000,
        1,
        1,
        200,
    )
    assert code.valid_until - code.created_at == pytest.approx(timedelta(days=30), abs=timedelta(seconds=5))
    assert (code.entry.kind, code.entry.amount, code.entry.source) == (
        EntryKind.SPEND,
        -200,
        f"promo:{code.pk}",
    )
    assert code.issued_via == "portal"
    assert list(selectors.codes_of(member)) == [code]


def test_e8_codes_are_random(member, store, offer):
    give_points(member, store, 2000)
    codes = {services.redeem_points_for_code(member=member, offer=offer).code for _i in range(10)}

    assert len(codes) == 10


def test_e8_short_points_issue_no_code(member, store, offer):
    give_points(member, store, 199)

    with pytest.raises(DomainError) as refused:
        services.redeem_points_for_code(member=member, offer=offer)

    assert refused.value.code == "insufficient_balance"
    assert (PromoCode.objects.count(), points_of(member)) == (0, 199)


def test_c2_an_excluded_member_cannot_turn_points_into_codes(member, store, offer):
    give_points(member, store, 500)
    member.status = MemberStatus.EXCLUDED
    member.save(update_fields=["status"])

    with pytest.raises(DomainError) as refused:
        services.redeem_points_for_code(member=member, offer=offer)

    assert refused.value.code == "member_not_active"


def test_e8_staff_issue_codes_for_a_member(merchant, member, store, offer):
    give_points(member, store, 500)
    cashier = staff_user(merchant, "cashier").user

    code = services.redeem_points_for_code(member=member, offer=offer, actor=cashier, channel="back_office")

    assert (code.created_by, code.issued_via) == (cashier, "back_office")


def test_e8_validating_says_what_the_code_takes_off_and_changes_nothing(merchant, code):
    small = services.validate_code(merchant=merchant, code=code.code, amount=30_000)
    large = services.validate_code(merchant=merchant, code=code.code.lower(), amount=80_000)

    assert (small.discount, large.discount) == (30_000, 50_000)  # never more than the order
    assert PromoCode.objects.get(pk=code.pk).uses_left == 1
    assert not PromoCodeUse.objects.exists()


def test_e8_percent_codes_are_rounded_down_to_the_minor_unit(merchant, member, store):
    offer = PromoCodeOfferFactory(
        merchant=merchant, value_kind=CodeValueKind.PERCENT, amount=None, percent=Decimal("12.5")
    )
    give_points(member, store, 500)
    code = services.redeem_points_for_code(member=member, offer=offer)

    check = services.validate_code(merchant=merchant, code=code.code, amount=99_999)

    assert check.discount == 12_499  # 12,499.875 rounded down


def test_e8_a_code_is_consumed_once_and_a_retried_order_is_not_a_second_use(merchant, code):
    use = services.consume_code(merchant=merchant, code=code.code, order_ref="WEB-1", amount=120_000)
    again = services.consume_code(merchant=merchant, code=code.code, order_ref="WEB-1", amount=120_000)

    assert again.pk == use.pk
    assert (use.discount, use.order_amount) == (50_000, 120_000)
    code.refresh_from_db()
    assert (code.uses_left, code.status) == (0, CodeStatus.USED_UP)
    with pytest.raises(DomainError) as used_up:
        services.consume_code(merchant=merchant, code=code.code, order_ref="WEB-2", amount=120_000)
    assert used_up.value.code == "code_used_up"
    with pytest.raises(DomainError) as validate:
        services.validate_code(merchant=merchant, code=code.code, amount=1)
    assert validate.value.code == "code_used_up"


def test_e8_a_code_with_three_uses_serves_three_orders(merchant, member, store):
    offer = PromoCodeOfferFactory(merchant=merchant, usage_limit=3)
    give_points(member, store, 500)
    code = services.redeem_points_for_code(member=member, offer=offer)

    for order in ("A", "B", "C"):
        services.consume_code(merchant=merchant, code=code.code, order_ref=order, amount=100_000)

    with pytest.raises(DomainError) as refused:
        services.consume_code(merchant=merchant, code=code.code, order_ref="D", amount=100_000)
    assert refused.value.code == "code_used_up"
    assert PromoCodeUse.objects.filter(promo_code=code).count() == 3


def test_e8_an_expired_code_is_refused(merchant, code):
    later = code.valid_until + timedelta(seconds=1)

    with pytest.raises(DomainError) as validate:
        services.validate_code(merchant=merchant, code=code.code, amount=1000, now=later)
    with pytest.raises(DomainError) as consume:
        services.consume_code(merchant=merchant, code=code.code, order_ref="X", amount=1000, now=later)

    assert (validate.value.code, validate.value.status) == ("code_expired", 422)
    assert consume.value.code == "code_expired"
    assert PromoCode.objects.get(pk=code.pk).uses_left == 1


def test_e8_unknown_codes_and_other_merchants_codes_are_not_found(other_merchant, merchant, code):
    with pytest.raises(DomainError) as typo:
        services.validate_code(merchant=merchant, code="NOPE000000", amount=1000)
    with pytest.raises(DomainError) as foreign:
        services.consume_code(merchant=other_merchant, code=code.code, order_ref="X", amount=1000)

    assert (typo.value.code, typo.value.status) == ("code_not_found", 404)
    assert foreign.value.code == "code_not_found"
    assert PromoCode.objects.get(pk=code.pk).uses_left == 1


def test_e8_an_online_only_code_is_refused_at_the_pos(merchant, member, store):
    offer = PromoCodeOfferFactory(merchant=merchant, channel="online")
    give_points(member, store, 500)
    code = services.redeem_points_for_code(member=member, offer=offer)

    with pytest.raises(DomainError) as refused:
        services.consume_code(merchant=merchant, code=code.code, order_ref="P1", amount=1000, channel="pos")
    use = services.consume_code(
        merchant=merchant, code=code.code, order_ref="W1", amount=1000, channel="online"
    )

    assert refused.value.code == "code_wrong_channel"
    assert use.discount == 1000


def test_e8_editing_an_offer_changes_no_code_already_issued(merchant, offer, code):
    offer.amount = 1
    offer.save()

    assert services.validate_code(merchant=merchant, code=code.code, amount=100_000).discount == 50_000


def test_e8_offers_for_a_member_are_their_merchants_active_ones(merchant, other_merchant, member, offer):
    PromoCodeOfferFactory(merchant=merchant, is_active=False)
    PromoCodeOfferFactory(merchant=other_merchant)

    assert list(selectors.offers_for(member)) == [offer]


def test_e8_an_inactive_offer_issues_no_code(merchant, member, store):
    give_points(member, store, 500)

    with pytest.raises(DomainError) as refused:
        services.redeem_points_for_code(
            member=member, offer=PromoCodeOfferFactory(merchant=merchant, is_active=False)
        )

    assert refused.value.code == "offer_unavailable"
    assert points_of(member) == 500
