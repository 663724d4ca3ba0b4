"""I1, I2, I4: the HTTP SMS provider on a real loopback server, signed delivery receipts, email through
a real SMTP server (aiosmtpd on 127.0.0.1) with its unsubscribe link."""

from __future__ import annotations

import json
import socket
import threading
import time
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.urls import reverse
from django.utils import timezone
from tests.factories import MemberFactory

from tessera.core import sms
from tessera.core.signing import signature_header
from tessera.marketing import delivery, services
from tessera.marketing.models import ChannelKind, MessageStatus, SmsProvider, Trigger
from tessera.marketing.tests.factories import TemplateFactory
from tessera.members.models import Member

pytestmark = pytest.mark.django_db


class Provider:
    """A fake SMS provider on 127.0.0.1: records each request, answers with the next queued status."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.statuses: list[int] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                provider.requests.append((dict(self.headers.items()), body))
                status = provider.statuses.pop(0) if provider.statuses else 200
                answer = json.dumps({"id": f"prov-{len(provider.requests)}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider(settings, merchant):
    settings.TESSERA_OUTBOUND_ALLOW_LOOPBACK = True  # the fake provider is on loopback
    server = Provider()
    row = services.settings_for(merchant)
    row.sms_provider, row.sms_api_url, row.sms_sender = SmsProvider.HTTP, server.url, "PHOHANOI"
    services.save_channel_settings(channel_settings=row, api_key="sk_test_123")
    yield server
    server.close()


def _queued(merchant, member, *, marketing=False, channel=ChannelKind.SMS, **template):
    template = TemplateFactory(merchant=merchant, channel=channel, **template)
    return services.send_to_member(member=member, template=template, trigger=Trigger.API, marketing=marketing)


def test_i1_the_http_provider_gets_the_message_with_our_key_and_its_id_is_kept(merchant, provider):
    member = MemberFactory(merchant=merchant, full_name="An", phone="+84903000001")
    message = _queued(merchant, member, body_vi="Chào {{ name }}")

    assert delivery.drain() == 1

    [(headers, body)] = provider.requests
    assert headers["Authorization"] == "Bearer sk_test_123"
    assert body == {
        "to": "+84903000001",
        "text": "Chào An",
        "sender": "PHOHANOI",
        "reference": str(message.pk),
    }
    message.refresh_from_db()
    assert (message.status, message.provider_message_id) == (MessageStatus.SENT, "prov-1")


def test_i1_a_provider_refusal_fails_the_message_with_the_reason(merchant, provider):
    provider.statuses = [500]
    message = _queued(merchant, MemberFactory(merchant=merchant))

    delivery.drain()

    message.refresh_from_db()
    assert (message.status, message.error, message.provider_message_id) == (
        MessageStatus.FAILED,
        "HTTP 500",
        "",
    )


def test_i1_one_time_codes_leave_through_the_merchants_provider_too(merchant, provider):
    sms.send_sms(merchant=merchant, phone="+84903000009", text="Mã: 123456")

    assert provider.requests[0][1]["to"] == "+84903000009"


def test_i1_a_provider_address_must_be_https_outside_development(merchant, provider, settings):
    settings.TESSERA_OUTBOUND_ALLOW_LOOPBACK = False
    message = _queued(merchant, MemberFactory(merchant=merchant))

    delivery.drain()

    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and "https" in message.error
    assert provider.requests == []


def test_i1_choosing_the_http_provider_needs_its_address_and_key(merchant):
    from tessera.core.errors import ValidationFailed

    row = services.settings_for(merchant)
    row.sms_provider = SmsProvider.HTTP
    row.sms_api_url = "https://sms.example.com/send"
    with pytest.raises(ValidationFailed) as refused:
        services.save_channel_settings(channel_settings=row)
    assert refused.value.code == "provider_key_required"


# --- delivery receipts -----------------------------------------------------------------------------------


def _post_receipt(client, row, payload, *, secret=None, stamp=None, token=None):
    body = json.dumps(payload).encode()
    header = signature_header(secret or row.receipt_secret, body, stamp or int(time.time()))
    url = reverse("messaging_hooks:receipts", args=[token or row.receipt_token])
    return client.post(url, data=body, content_type="application/json", headers={"Tessera-Signature": header})


@pytest.fixture
def sent(merchant, provider):
    message = _queued(merchant, MemberFactory(merchant=merchant))
    delivery.drain()
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    return message


def test_i1_a_signed_receipt_marks_the_message_delivered(client, merchant, sent):
    row = services.settings_for(merchant)

    response = _post_receipt(client, row, {"receipts": [{"id": "prov-1", "status": "delivered"}]})

    assert response.status_code == 200 and response.json() == {"updated": 1, "unchanged": 0, "unknown": 0}
    sent.refresh_from_db()
    assert sent.status == MessageStatus.DELIVERED and sent.delivered_at is not None


def test_i1_a_failure_receipt_records_the_providers_reason(client, merchant, sent):
    row = services.settings_for(merchant)

    _post_receipt(client, row, {"id": "prov-1", "status": "undelivered", "error": "handset off"})

    sent.refresh_from_db()
    assert (sent.status, sent.error) == (MessageStatus.FAILED, "handset off")


@pytest.mark.parametrize(
    "forgery",
    [
        {"secret": "dlrsec_guessed"},
        {"age": 600},  # stale: ten minutes old
        {"age": -600},  # from the future
    ],
)
def test_i1_a_forged_or_stale_receipt_is_refused_and_changes_nothing(client, merchant, sent, forgery):
    # The stamp is taken when the test runs, not when it is collected: a long suite reached this test
    # minutes after collection, when "ten minutes ahead" had become three and was accepted.
    if "age" in forgery:
        forgery = {"stamp": int(time.time()) - forgery["age"]}
    row = services.settings_for(merchant)

    response = _post_receipt(client, row, {"id": "prov-1", "status": "delivered"}, **forgery)

    assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_signature"
    sent.refresh_from_db()
    row.refresh_from_db()
    assert sent.status == MessageStatus.SENT and row.rejected_receipts == 1


def test_i1_an_unsigned_receipt_is_refused(client, merchant, sent):
    row = services.settings_for(merchant)
    url = reverse("messaging_hooks:receipts", args=[row.receipt_token])

    response = client.post(
        url, data=b'{"id": "prov-1", "status": "delivered"}', content_type="application/json"
    )

    assert response.status_code == 401
    sent.refresh_from_db()
    assert sent.status == MessageStatus.SENT


def test_i1_a_replayed_receipt_changes_nothing(client, merchant, sent):
    row = services.settings_for(merchant)
    body = json.dumps({"id": "prov-1", "status": "delivered"}).encode()
    header = signature_header(row.receipt_secret, body, int(time.time()))
    url = reverse("messaging_hooks:receipts", args=[row.receipt_token])

    def post():
        return client.post(
            url, data=body, content_type="application/json", headers={"Tessera-Signature": header}
        )

    assert post().json()["updated"] == 1
    sent.refresh_from_db()
    delivered_at = sent.delivered_at

    assert post().json() == {"updated": 0, "unchanged": 1, "unknown": 0}
    # A late "failed" after "delivered" does not undo it either.
    _post_receipt(client, row, {"id": "prov-1", "status": "failed"})
    sent.refresh_from_db()
    assert (sent.status, sent.delivered_at) == (MessageStatus.DELIVERED, delivered_at)


def test_i1_another_merchants_receipt_address_cannot_touch_this_merchants_messages(
    client, merchant, other_merchant, sent
):
    theirs = services.settings_for(other_merchant)

    response = _post_receipt(client, theirs, {"id": "prov-1", "status": "failed"})

    assert response.json() == {"updated": 0, "unchanged": 0, "unknown": 1}
    sent.refresh_from_db()
    assert sent.status == MessageStatus.SENT


def test_i1_an_unknown_receipt_address_is_404_and_rubbish_is_422(client, merchant, sent):
    import uuid

    row = services.settings_for(merchant)
    assert (
        _post_receipt(client, row, {"id": "prov-1", "status": "delivered"}, token=uuid.uuid4()).status_code
        == 404
    )
    assert _post_receipt(client, row, {"id": "prov-1", "status": "lost in space"}).status_code == 422
    sent.refresh_from_db()
    assert sent.status == MessageStatus.SENT


def test_i1_a_receipt_arriving_before_our_sent_bookkeeping_is_matched_by_our_reference(client, merchant):
    message = _queued(merchant, MemberFactory(merchant=merchant))
    delivery.claim(merchant_id=merchant.pk, channel="sms", now=timezone.now())
    row = services.settings_for(merchant)

    _post_receipt(client, row, {"id": "prov-77", "reference": str(message.pk), "status": "delivered"})

    message.refresh_from_db()
    assert (message.status, message.provider_message_id) == (MessageStatus.DELIVERED, "prov-77")


# --- email through a real SMTP server ----------------------------------------------------------------------


class Mailbox:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp(settings):
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.TESSERA_PUBLIC_URL = "https://loyalty.example.vn"
    yield mailbox
    controller.stop()


def _header(mail: Any, name: str) -> str:
    return str(make_header(decode_header(mail[name])))


def test_i2_a_marketing_email_is_delivered_by_smtp_with_a_working_unsubscribe_link(client, merchant, smtp):
    row = services.settings_for(merchant)
    row.email_from, row.email_from_name = "news@pho.vn", "Phở Hà Nội"
    row.save()
    member = MemberFactory(
        merchant=merchant, full_name="Bình", email="binh@example.com", marketing_email=True
    )
    message = _queued(
        merchant,
        member,
        marketing=True,
        channel=ChannelKind.EMAIL,
        subject_vi="Ưu đãi cho {{ name }}",
        body_vi="Chào {{ name }}, mã của bạn: {{ code }}",
    )

    assert delivery.drain() == 1

    [envelope] = smtp.envelopes
    assert envelope.rcpt_tos == ["binh@example.com"] and envelope.mail_from == "news@pho.vn"
    mail = message_from_bytes(envelope.content)
    assert _header(mail, "Subject") == "Ưu đãi cho Bình"
    assert _header(mail, "From") == "Phở Hà Nội <news@pho.vn>"
    text = mail.get_payload(decode=True).decode()
    assert text.startswith("Chào Bình, mã của bạn: ")
    link = "".join(mail["List-Unsubscribe"].split()).strip("<>")
    assert link.startswith("https://loyalty.example.vn/hooks/messaging/unsubscribe/") and link in text
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.provider_message_id in mail["Message-ID"]

    path = link.removeprefix("https://loyalty.example.vn")
    page = client.get(path)
    # In the merchant's language (its catalogue is compiled by the lead; the language is set here).
    assert page.status_code == 200 and '<html lang="vi">' in page.content.decode()
    assert Member.objects.get(pk=member.pk).marketing_email is True  # opening the page changes nothing
    client.post(path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert Member.objects.get(pk=member.pk).marketing_email is False

    again = _queued(merchant, member, marketing=True, channel=ChannelKind.EMAIL, body_vi="Lần nữa")
    delivery.drain()
    again.refresh_from_db()
    assert again.status == MessageStatus.SKIPPED_NO_CONSENT and len(smtp.envelopes) == 1


def test_i2_a_service_email_has_no_unsubscribe_link_and_needs_no_consent(merchant, smtp):
    member = MemberFactory(merchant=merchant, email="an@example.com", marketing_email=False)

    _queued(merchant, member, channel=ChannelKind.EMAIL, subject_en="Points", body_vi="Điểm: {{ points }}")
    delivery.drain()

    mail = message_from_bytes(smtp.envelopes[0].content)
    assert mail["List-Unsubscribe"] is None and "unsubscribe" not in mail.get_payload(decode=True).decode()


def test_i2_an_smtp_failure_fails_the_message(merchant, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", _free_port(), 2
    member = MemberFactory(merchant=merchant, email="an@example.com")

    message = _queued(merchant, member, channel=ChannelKind.EMAIL, body_vi="x")
    delivery.drain()

    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and message.error


def test_i2_a_member_without_email_is_skipped_for_no_address(merchant, smtp):
    member = MemberFactory(merchant=merchant, email="")

    message = _queued(merchant, member, channel=ChannelKind.EMAIL, body_vi="x")

    assert message.status == MessageStatus.SKIPPED_NO_ADDRESS


def test_i4_a_tampered_unsubscribe_link_is_refused(client, merchant):
    member = MemberFactory(merchant=merchant, marketing_email=True)
    token = services.unsubscribe_token(member.pk, "email")

    response = client.post(reverse("messaging_hooks:unsubscribe", args=[token[:-2] + "xx"]))

    assert response.status_code == 404
    assert Member.objects.get(pk=member.pk).marketing_email is True


def test_c5_erasing_a_member_blanks_the_addresses_and_texts_of_their_messages(merchant, sms_log):
    from tessera.members.services import erase_member

    member = MemberFactory(merchant=merchant, full_name="Xoá Tôi")
    message = _queued(merchant, member, body_vi="Chào {{ name }}")
    delivery.drain()

    erase_member(member=member)

    message.refresh_from_db()
    assert (message.to, message.body, message.status) == ("", "", MessageStatus.SENT)
