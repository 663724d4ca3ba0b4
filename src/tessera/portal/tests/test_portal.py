"""G1: the member portal shows a member their card, points, tier, history and rewards, in the merchant's
branding and language; excluded members see only that their membership is inactive; a member of one
merchant never sees another merchant's data."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone
from tests.factories import MemberFactory, MerchantFactory, StoreFactory

from tessera.ledger import services as ledger
from tessera.ledger.models import Account, AccountKind, EntryKind
from tessera.members import services as members
from tessera.members.models import MemberStatus
from tessera.portal.session import session_key
from tessera.portal.tests.helpers import member_session
from tessera.rewards.models import PromoCode
from tessera.rewards.tests.factories import GiftFactory, PromoCodeOfferFactory
from tessera.sales import services as sales
from tessera.tiers import services as tiers
from tessera.tiers.tests.factories import program, spend

pytestmark = pytest.mark.django_db


def sign_in(client, member):
    session = member_session(client)
    session[session_key(member.merchant)] = member.pk
    session.save()


def post_form(client, path, data):
    """As a browser sends a form: urlencoded (the idempotency fingerprint reads the raw body)."""
    return client.post(path, urlencode(data), content_type="application/x-www-form-urlencoded")


def url(name, merchant, **kwargs):
    return reverse(f"portal:{name}", kwargs={"slug": merchant.slug, **kwargs})


def give_points(member, points, **lot):
    account = ledger.open_account(merchant=member.merchant, kind=AccountKind.POINTS, member=member)
    return ledger.credit(account=account, amount=points, kind=EntryKind.BONUS, source="test", **lot)


def test_g1_signed_out_visitors_are_sent_to_the_login_page(client, merchant):
    response = client.get(url("home", merchant))

    assert response.status_code == 302 and response["Location"] == url("login", merchant)


def test_g1_an_unknown_merchant_slug_is_not_found(client, db):
    assert client.get("/m/no-such-shop/").status_code == 404


def test_g1_the_card_page_shows_qr_barcode_points_pending_and_expiring(client, merchant, member, card):
    now = timezone.now()
    give_points(member, 1200, expires_at=now + timedelta(days=5))
    give_points(member, 300, available_at=now + timedelta(days=3))
    sign_in(client, member)

    response = client.get(url("home", merchant))

    assert response.status_code == 200
    page = response.content.decode()
    assert card.number in page
    assert page.count("data:image/svg+xml;base64,") == 2  # the QR code and the barcode
    points = response.context["points"]
    assert (points.balance, points.spendable, points.pending) == (1500, 1200, 300)
    assert [lot.amount for lot in points.expiring_soon] == [1200]
    assert 'id="points-balance">1.500<' in page  # Vietnamese groups thousands with dots


def test_g1_tier_and_progress_to_the_next_tier(client, merchant, member):
    program(merchant)
    spend(member, 1_200_000, timezone.now() - timedelta(days=1))
    tiers.evaluate_upgrade(member=member)
    sign_in(client, member)

    tier = client.get(url("home", merchant)).context["tier"]

    assert tier.name == "Silver" and tier.next_name == "Gold"
    assert tier.missing == "3.800.000\xa0₫" and tier.percent == 24  # 1.2M of Gold's 5M, in Vietnamese


def test_g1_history_lists_points_movements_and_payments(client, merchant, member):
    store = StoreFactory(merchant=merchant, name="Quận 1")
    sale = sales.create_transaction(
        merchant=merchant, store=store, member=member, lines=[sales.SaleLine("Phở bò", 2, 60_000)]
    )
    members.set_member_pin(member=member, pin="2468")
    sales.confirm_transaction(transaction=sale, method="pin", pin="2468")
    sign_in(client, member)

    response = client.get(url("history", merchant))

    assert response.status_code == 200
    [payment] = response.context["payments"]
    assert payment.amount == "120.000\xa0₫" and payment.store_name == "Quận 1"  # the member reads Vietnamese
    assert [e.amount for e in response.context["entries"]] == [12]


def test_g1_excluded_member_sees_only_that_the_membership_is_inactive(client, merchant, member, card):
    give_points(member, 500)
    type(member).objects.filter(pk=member.pk).update(status=MemberStatus.EXCLUDED)
    sign_in(client, member)

    for name in ("home", "history", "password"):
        response = client.get(url(name, merchant))
        assert response.status_code == 403
        assert b'id="inactive"' in response.content
        assert card.number.encode() not in response.content and b"500" not in response.content


def test_g1_the_portal_wears_the_merchant_colours_logo_and_language(client, db):
    shop = MerchantFactory(
        slug="tea", default_language="zh-hans", primary_color="#123456", accent_color="#abcdef"
    )

    response = client.get(url("login", shop))

    page = response.content.decode()
    assert '<html lang="zh-hans">' in page
    assert "--primary: #123456; --accent: #abcdef;" in page
    assert shop.name in page


def test_g1_the_member_can_switch_language_with_set_language(client, merchant):
    assert b'<html lang="vi">' in client.get(url("login", merchant)).content

    client.post(reverse("set_language"), {"language": "en", "next": url("login", merchant)})

    assert b'<html lang="en">' in client.get(url("login", merchant)).content


def test_g1_a_session_at_one_merchant_is_nobody_at_another(client, merchant, other_merchant, member):
    MemberFactory(merchant=other_merchant, phone="+84903123456", full_name="Someone else")
    sign_in(client, member)
    assert client.get(url("home", merchant)).status_code == 200

    response = client.get(url("home", other_merchant))

    assert response.status_code == 302 and response["Location"] == url("login", other_merchant)


def test_g1_a_member_id_of_another_merchant_under_its_key_finds_nobody(
    client, merchant, other_merchant, member
):
    session = member_session(client)
    session[f"portal:member:{other_merchant.pk}"] = member.pk  # merchant A's member, at B's key
    session.save()

    response = client.get(url("home", other_merchant))

    assert response.status_code == 302
    assert f"portal:member:{other_merchant.pk}" not in member_session(client)


def test_g1_redeeming_points_for_a_promo_code_spends_once_even_if_the_form_is_sent_twice(
    client, merchant, member
):
    give_points(member, 500)
    offer = PromoCodeOfferFactory(merchant=merchant, name="Giảm 50.000đ", points_cost=200)
    sign_in(client, member)
    form = {"idempotency_key": "form-1", "confirmed": "1"}

    first = post_form(client, url("redeem", merchant, offer_id=offer.pk), form)
    again = post_form(client, url("redeem", merchant, offer_id=offer.pk), form)

    assert first.status_code == again.status_code == 302
    [code] = PromoCode.objects.filter(member=member)
    assert code.issued_via == "portal" and code.points == 200
    assert Account.objects.get(member=member, kind=AccountKind.POINTS).balance == 300
    assert code.code in client.get(url("home", merchant)).content.decode()


def test_g1_points_are_spent_only_once_the_member_confirms(client, merchant, member):
    give_points(member, 500)
    offer = PromoCodeOfferFactory(merchant=merchant, name="Giảm 50.000đ", points_cost=200)
    gift = GiftFactory(merchant=merchant, name="Ly sứ", points_cost=150, stock=3)
    sign_in(client, member)

    home = client.get(url("home", merchant)).content.decode()
    asked = post_form(client, url("redeem", merchant, offer_id=offer.pk), {"idempotency_key": "k-1"})
    asked_gift = post_form(client, url("gift", merchant, gift_id=gift.pk), {"idempotency_key": "k-2"})

    # With JavaScript, a dialog asks; the question rides on the form.
    assert 'data-confirm="Đổi 200 điểm lấy Giảm 50.000đ?"' in home and '<dialog id="confirm-dialog"' in home
    # Without it, the server asks on a page of its own, with the same form key, and spends nothing.
    assert asked.status_code == 200
    page = asked.content.decode()
    assert "Đổi 200 điểm lấy Giảm 50.000đ?" in page
    assert 'name="idempotency_key" value="k-1"' in page and 'name="confirmed" value="1"' in page
    assert "Đổi 150 điểm lấy Ly sứ?" in asked_gift.content.decode()
    assert Account.objects.get(member=member, kind=AccountKind.POINTS).balance == 500
    assert not PromoCode.objects.exists()

    done = post_form(
        client, url("redeem", merchant, offer_id=offer.pk), {"idempotency_key": "k-1", "confirmed": "1"}
    )

    assert done.status_code == 302
    assert Account.objects.get(member=member, kind=AccountKind.POINTS).balance == 300


def test_g1_a_usable_promo_code_has_a_qr_code_and_a_copy_button(client, merchant, member):
    give_points(member, 500)
    offer = PromoCodeOfferFactory(merchant=merchant, points_cost=200)
    sign_in(client, member)
    post_form(client, url("redeem", merchant, offer_id=offer.pk), {"idempotency_key": "q", "confirmed": "1"})
    code = PromoCode.objects.get(member=member)

    page = client.get(url("home", merchant)).content.decode()
    qr = client.get(url("code_qr", merchant, code=code.code))

    assert f'data-copy="{code.code}"' in page
    assert f'<img src="{url("code_qr", merchant, code=code.code)}" loading="lazy"' in page
    assert qr.status_code == 200 and qr["Content-Type"] == "image/svg+xml" and b"<svg" in qr.content


def test_g1_a_promo_code_qr_is_only_its_owners_and_only_while_usable(client, merchant, member):
    give_points(member, 500)
    offer = PromoCodeOfferFactory(merchant=merchant, points_cost=200)
    sign_in(client, member)
    post_form(client, url("redeem", merchant, offer_id=offer.pk), {"idempotency_key": "q", "confirmed": "1"})
    code = PromoCode.objects.get(member=member)
    someone_else = MemberFactory(merchant=merchant, phone="+84912345678")
    sign_in(client, someone_else)

    theirs = client.get(url("code_qr", merchant, code=code.code))
    sign_in(client, member)
    PromoCode.objects.filter(pk=code.pk).update(valid_until=timezone.now() - timedelta(days=1))
    expired = client.get(url("code_qr", merchant, code=code.code))

    assert theirs.status_code == expired.status_code == 404


def test_g1_asking_for_a_gift_spends_its_points(client, merchant, member):
    give_points(member, 500)
    gift = GiftFactory(merchant=merchant, points_cost=150, stock=3)
    sign_in(client, member)

    post_form(client, url("gift", merchant, gift_id=gift.pk), {"idempotency_key": "gift-1", "confirmed": "1"})

    assert Account.objects.get(member=member, kind=AccountKind.POINTS).balance == 350
    gift.refresh_from_db()
    assert gift.stock == 2


def test_g1_another_merchants_offer_cannot_be_redeemed(client, merchant, other_merchant, member):
    give_points(member, 500)
    foreign = PromoCodeOfferFactory(merchant=other_merchant, points_cost=100)
    sign_in(client, member)

    response = post_form(
        client, url("redeem", merchant, offer_id=foreign.pk), {"idempotency_key": "x", "confirmed": "1"}
    )

    assert response.status_code == 404
    assert not PromoCode.objects.exists()
