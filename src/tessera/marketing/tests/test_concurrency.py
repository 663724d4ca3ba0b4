"""I1 under real concurrency on PostgreSQL: several workers draining one queue at the same moment send
each message once and, together, no more than the channel's rate."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, connections
from django.utils import timezone
from tests.factories import MemberFactory

from tessera.core import sms
from tessera.marketing import delivery, services
from tessera.marketing.models import Message, MessageStatus
from tessera.marketing.tests.factories import TemplateFactory
from tessera.members.services import save_segment

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 6


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks under real concurrency are tested on PostgreSQL")


class CountingBackend:
    phones: list[str] = []
    lock = threading.Lock()

    def send(self, message):
        with CountingBackend.lock:
            CountingBackend.phones.append(message.phone)
        return f"count-{message.reference}"


def test_i1_six_workers_draining_at_once_send_each_message_once_within_the_rate(
    merchant, settings, monkeypatch
):
    monkeypatch.setitem(sms.BACKENDS, "counting", CountingBackend)
    settings.SMS_BACKEND = "counting"
    CountingBackend.phones = []
    for i in range(40):
        MemberFactory(merchant=merchant, phone=f"+8490800{i:04d}", marketing_sms=True)
    row = services.settings_for(merchant)
    row.sms_rate_per_minute = 25
    row.save()
    segment = save_segment(merchant=merchant, name="All", filters={})
    campaign = services.create_campaign(
        merchant=merchant, name="C", template=TemplateFactory(merchant=merchant), segment=segment
    )
    now = timezone.now()
    services.launch_campaign(campaign=campaign, now=now)
    barrier = threading.Barrier(WORKERS)
    errors: list[str] = []

    def worker() -> None:
        try:
            barrier.wait()
            services.queue_campaign(campaign_id=campaign.pk, now=now)
            delivery.drain(now=now)
        except Exception as error:
            errors.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert Message.objects.filter(campaign=campaign).count() == 40  # queued once
    assert len(CountingBackend.phones) == 25 and max(Counter(CountingBackend.phones).values()) == 1
    assert Message.objects.filter(campaign=campaign, status=MessageStatus.SENT).count() == 25
