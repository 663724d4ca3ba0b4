"""Issue 12 (G1): "send me a code" gives every phone the same answer, sends through the job queue, and
keeps provider trouble between the merchant and the logs."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from django.db.models import F
from django.urls import reverse

from tessera.core.errors import ValidationFailed
from tessera.core.sms import SmsMessage, SmsSendError
from tessera.core.tests.test_outbound import Server
from tessera.marketing import services as marketing
from tessera.marketing.models import SmsProvider
from tessera.portal.models import CodeSendFailure, LoginCode

pytestmark = pytest.mark.django_db

MEMBER_PHONE, STRANGER_PHONE = "0903 123 456", "0912 000 111"


class RefusingBackend:
    def send(self, message: SmsMessage) -> str:
        raise SmsSendError("HTTP 503")


class BrokenBackend:
    def send(self, message: SmsMessage) -> str:
        raise RuntimeError("provider adapter bug")


@pytest.fixture
def sent(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def client_factory():
    from django.test import Client

    return Client


def _url(name, merchant):
    return reverse(f"portal:{name}", kwargs={"slug": merchant.slug})


def _page(response, *phones: str) -> tuple[int, str, str]:
    """Status, redirect target and body, without what differs by design: CSRF tokens, CSP nonces and
    the number typed."""
    body = response.content.decode()
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "CSRF", body)
    body = re.sub(r'nonce="[^"]*"', "NONCE", body)
    for phone in phones:
        body = body.replace(phone, "PHONE")
    return response.status_code, response.get("Location", ""), body


def _ask(client, merchant, phone, sent):
    """POST the login form, then follow to the page shown; both normalised."""
    e164 = "+84" + phone.replace(" ", "")[1:]
    with sent():
        posted = client.post(_url("login", merchant), {"phone": phone, "send_code": "1"})
    shown = client.get(posted["Location"]) if posted.status_code == 302 else posted
    return _page(posted, phone, e164), _page(shown, phone, e164)


def test_members_and_strangers_get_byte_identical_answers_also_when_throttled(
    client_factory, merchant, member, sms_log, sent
):
    member_client, stranger_client = client_factory(), client_factory()

    first = (
        _ask(member_client, merchant, MEMBER_PHONE, sent),
        _ask(stranger_client, merchant, STRANGER_PHONE, sent),
    )
    again = (
        _ask(member_client, merchant, MEMBER_PHONE, sent),
        _ask(stranger_client, merchant, STRANGER_PHONE, sent),
    )

    assert first[0] == first[1]
    assert first[0][0][:2] == (302, _url("verify", merchant))
    assert again[0] == again[1]
    assert again[0][0][0] == 200 and "message error" in again[0][0][2]  # the throttle, for both
    assert [m["phone"] for m in sms_log.messages()] == ["+84903123456"]
    assert LoginCode.objects.filter(merchant=merchant).count() == 2  # one row per phone, member or not


@pytest.mark.parametrize("backend", [RefusingBackend, BrokenBackend], ids=["refused", "adapter error"])
def test_a_failing_provider_still_gives_the_neutral_answer_and_tells_the_merchant(
    client, merchant, member, settings, sent, caplog, backend
):
    settings.SMS_BACKEND = f"{__name__}.{backend.__name__}"
    caplog.set_level(logging.WARNING, logger="tessera.portal.services")

    with sent():
        response = client.post(_url("login", merchant), {"phone": MEMBER_PHONE})

    assert response.status_code == 302 and response["Location"] == _url("verify", merchant)
    page = client.get(response["Location"]).content.decode()
    assert "message info" in page and "message error" not in page
    assert "503" not in page and "bug" not in page
    [failure] = CodeSendFailure.objects.of(merchant)
    assert (failure.member, failure.phone) == (member, "+84903123456")
    assert failure.error == ("HTTP 503" if backend is RefusingBackend else "provider adapter bug")
    assert f"member {member.pk} of merchant {merchant.pk} not sent" in caplog.text


def test_the_merchant_sees_codes_not_sent_in_the_back_office(admin_client, merchant, member):
    CodeSendFailure.objects.create(merchant=merchant, member=member, phone="+84903123456", error="HTTP 503")

    page = admin_client.get(reverse("admin:portal_codesendfailure_changelist"))

    assert page.status_code == 200 and "HTTP 503" in page.content.decode()


def test_a_merchant_provider_on_loopback_is_never_called_while_the_guard_is_on(
    client, merchant, member, settings, sent
):
    """Issue 12 (SSRF): a provider address saved as 127.0.0.1 (here while allowed, as in a demo) gets no
    request once the guard is on; the member sees the usual answer, the merchant the refusal."""
    provider = Server()
    try:
        settings.TESSERA_OUTBOUND_ALLOW_LOOPBACK = True
        row = marketing.settings_for(merchant)
        row.sms_provider, row.sms_api_url = SmsProvider.HTTP, provider.url
        marketing.save_channel_settings(channel_settings=row, api_key="sk_test_123")
        settings.TESSERA_OUTBOUND_ALLOW_LOOPBACK = False

        with sent():
            response = client.post(_url("login", merchant), {"phone": MEMBER_PHONE})
    finally:
        provider.close()

    assert response.status_code == 302
    assert provider.requests == []
    assert CodeSendFailure.objects.of(merchant).get().error.startswith("refused")


def test_a_merchant_cannot_save_a_loopback_provider_address(merchant, settings):
    settings.TESSERA_OUTBOUND_ALLOW_LOOPBACK = False
    row = marketing.settings_for(merchant)
    row.sms_provider, row.sms_api_url = SmsProvider.HTTP, "https://2130706433/sms"

    with pytest.raises(ValidationFailed) as refused:
        marketing.save_channel_settings(channel_settings=row, api_key="sk_test_123")

    assert refused.value.code == "address_not_public"


def test_resend_sends_a_new_code_and_is_throttled_like_the_first(client, merchant, member, sms_log, sent):
    with sent():
        client.post(_url("login", merchant), {"phone": MEMBER_PHONE})

    with sent():
        throttled = client.post(_url("resend", merchant), follow=True)
    assert "message error" in throttled.content.decode()
    assert len(sms_log.messages()) == 1

    LoginCode.objects.filter(merchant=merchant).update(created_at=F("created_at") - timedelta(minutes=2))
    with sent():
        resent = client.post(_url("resend", merchant))
    assert resent.status_code == 302 and resent["Location"] == _url("verify", merchant)
    assert len(sms_log.messages()) == 2
    assert LoginCode.objects.filter(merchant=merchant, used_at__isnull=True).count() == 1  # the first retired

    signed_in = client.post(_url("verify", merchant), {"code": sms_log.last_code("+84903123456")})
    assert signed_in.status_code == 302 and signed_in["Location"] == _url("home", merchant)


def test_resend_without_a_phone_in_the_session_goes_back_to_the_login_page(client, merchant):
    response = client.post(_url("resend", merchant))

    assert response.status_code == 302 and response["Location"] == _url("login", merchant)
    assert LoginCode.objects.count() == 0


def test_the_code_page_offers_resend(client, merchant, sent):
    with sent():
        client.post(_url("login", merchant), {"phone": STRANGER_PHONE})

    page = client.get(_url("verify", merchant)).content.decode()

    assert f'action="{_url("resend", merchant)}"' in page
