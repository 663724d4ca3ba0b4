"""G2: the website widget trusts only a token the shop signed with the merchant's secret
(HMAC-SHA256 of "<phone>.<timestamp>", ten minutes), answers browsers only from allowed origins, and
shows nothing to excluded members or to anyone without a valid token."""

from __future__ import annotations

import json
import time

import pytest
from django.urls import reverse
from tests.factories import MemberFactory, staff_user

from tessera.ledger import services as ledger
from tessera.ledger.models import Account, AccountKind, EntryKind
from tessera.members.models import MemberStatus
from tessera.portal import services
from tessera.portal.models import WidgetSettings
from tessera.portal.widget import sign
from tessera.rewards.models import PromoCode
from tessera.rewards.tests.factories import PromoCodeOfferFactory

pytestmark = pytest.mark.django_db

SHOP = "https://shop.pho.example"
PHONE = "0903123456"


@pytest.fixture
def secret(merchant):
    created = services.rotate_widget_secret(merchant=merchant)
    services.update_widget_settings(widget=created.settings, allowed_origins=[SHOP], is_enabled=True)
    return created.secret


@pytest.fixture
def shopper(merchant):
    member = MemberFactory(merchant=merchant, phone="+84903123456", full_name="Nguyễn Văn An")
    account = ledger.open_account(merchant=merchant, kind=AccountKind.POINTS, member=member)
    ledger.credit(account=account, amount=800, kind=EntryKind.BONUS, source="test")
    return member


def headers(secret, phone=PHONE, timestamp=None, token=None, origin=SHOP):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    found = {
        "HTTP_X_WIDGET_PHONE": phone,
        "HTTP_X_WIDGET_TIMESTAMP": timestamp,
        "HTTP_X_WIDGET_TOKEN": token or sign(secret, phone, timestamp),
    }
    if origin:
        found["HTTP_ORIGIN"] = origin
    return found


def me(client, merchant, **extra):
    return client.get(reverse("portal:widget_me", kwargs={"slug": merchant.slug}), **extra)


def test_g2_a_signed_shopper_sees_points_tier_and_offers(client, merchant, secret, shopper):
    PromoCodeOfferFactory(merchant=merchant, name="Giảm 50.000đ", points_cost=200)

    response = me(client, merchant, **headers(secret))

    assert response.status_code == 200
    body = response.json()
    assert body["points"] == {"balance": 800, "spendable": 800, "pending": 0}
    assert [(o["name"], o["points"]) for o in body["offers"]] == [("Giảm 50.000đ", 200)]
    assert body["tier"] is None
    assert response["Access-Control-Allow-Origin"] == SHOP


def test_g2_a_forged_token_shows_nothing(client, merchant, secret, shopper):
    response = me(client, merchant, **headers("not-the-secret"))

    assert response.status_code == 401 and response.json()["code"] == "invalid_token"
    assert "points" not in response.json()


def test_g2_an_expired_token_shows_nothing(client, merchant, secret, shopper):
    eleven_minutes_ago = int(time.time()) - 11 * 60

    assert me(client, merchant, **headers(secret, timestamp=eleven_minutes_ago)).status_code == 401
    assert me(client, merchant, **headers(secret, timestamp=int(time.time()) - 9 * 60)).status_code == 200


def test_g2_an_unsigned_request_shows_nothing(client, merchant, secret, shopper):
    response = me(client, merchant, HTTP_ORIGIN=SHOP, HTTP_X_WIDGET_PHONE=PHONE)

    assert response.status_code == 401


def test_g2_a_token_for_another_phone_does_not_open_this_one(client, merchant, secret, shopper):
    signed_for_other = headers(secret, phone="0912000111")
    signed_for_other["HTTP_X_WIDGET_PHONE"] = PHONE

    assert me(client, merchant, **signed_for_other).status_code == 401


def test_g2_an_excluded_member_sees_nothing(client, merchant, secret, shopper):
    type(shopper).objects.filter(pk=shopper.pk).update(status=MemberStatus.EXCLUDED)

    assert me(client, merchant, **headers(secret)).status_code == 401


def test_g2_browsers_may_call_only_from_allowed_origins(client, merchant, secret, shopper):
    response = me(client, merchant, **headers(secret, origin="https://evil.example"))

    assert response.status_code == 403 and response.json()["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response


def test_g2_the_preflight_from_an_allowed_origin_allows_the_widget_headers(client, merchant, secret):
    response = client.options(
        reverse("portal:widget_redeem", kwargs={"slug": merchant.slug}),
        HTTP_ORIGIN=SHOP,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )

    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == SHOP
    assert "X-Widget-Token" in response["Access-Control-Allow-Headers"]
    assert "Idempotency-Key" in response["Access-Control-Allow-Headers"]


def test_g2_a_token_signed_by_one_merchant_opens_nothing_at_another(
    client, merchant, other_merchant, secret, shopper
):
    other = services.rotate_widget_secret(merchant=other_merchant)
    services.update_widget_settings(widget=other.settings, allowed_origins=[SHOP], is_enabled=True)

    assert me(client, other_merchant, **headers(secret)).status_code == 401  # A's secret at B
    assert me(client, other_merchant, **headers(other.secret)).status_code == 401  # A's member is not B's


def test_g2_rotating_the_secret_voids_old_tokens(client, merchant, secret, shopper):
    services.rotate_widget_secret(merchant=merchant)

    assert me(client, merchant, **headers(secret)).status_code == 401


def test_g2_redeeming_for_a_code_is_idempotent(client, merchant, secret, shopper):
    offer = PromoCodeOfferFactory(merchant=merchant, points_cost=200)
    path = reverse("portal:widget_redeem", kwargs={"slug": merchant.slug})
    body = json.dumps({"offer": offer.pk})

    first = client.post(
        path, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1", **headers(secret)
    )
    retry = client.post(
        path, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1", **headers(secret)
    )

    assert first.status_code == retry.status_code == 200
    assert first.json()["code"] == retry.json()["code"] == PromoCode.objects.get(member=shopper).code
    assert Account.objects.get(member=shopper, kind=AccountKind.POINTS).balance == 600
    assert first["Access-Control-Allow-Origin"] == SHOP


def test_g2_the_script_knows_its_api_and_colours(client, merchant, secret):
    response = client.get(reverse("portal:widget_js", kwargs={"slug": merchant.slug}) + "?lang=en")

    assert response.status_code == 200 and response["Content-Type"].startswith("application/javascript")
    script = response.content.decode()
    assert f'"api": "http://testserver/m/{merchant.slug}/widget/api"' in script
    assert '"primary": "#0f766e"' in script and '"redeem": "Redeem for a code"' in script
    assert "attachShadow" in script


def test_g2_no_widget_until_the_merchant_sets_it_up(client, merchant):
    assert client.get(reverse("portal:widget_js", kwargs={"slug": merchant.slug})).status_code == 404
    assert me(client, merchant).status_code == 404


def test_g2_the_merchant_admin_creates_the_widget_and_sees_the_secret_once(client, merchant, other_merchant):
    client.force_login(staff_user(merchant, "merchant_admin", username="boss").user)

    response = client.post(
        "/admin/portal/widgetsettings/add/",
        {"is_enabled": "on", "allowed_origins": f"{SHOP}\n"},
        follow=True,
    )

    widget = WidgetSettings.objects.get(merchant=merchant)
    assert widget.origins() == [SHOP]
    assert widget.secret in response.content.decode()
    assert (
        widget.secret not in client.get(f"/admin/portal/widgetsettings/{widget.pk}/change/").content.decode()
    )
    foreign = services.rotate_widget_secret(merchant=other_merchant).settings
    assert client.get(f"/admin/portal/widgetsettings/{foreign.pk}/change/").status_code == 404
