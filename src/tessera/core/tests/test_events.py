"""Events published in bulk (core.events.publish_many, issue 16) reach the receivers as `publish` sends
them: each recorded inside the transaction, each published after the commit."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tessera.core.events import event_published, event_recorded, publish_many

pytestmark = pytest.mark.django_db


def test_each_event_is_recorded_in_the_transaction_and_published_after_the_commit(
    django_capture_on_commit_callbacks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    recorded: list[dict[str, Any]] = []
    published: list[dict[str, Any]] = []

    def record(sender: Any, **kwargs: Any) -> None:
        recorded.append(kwargs["payload"])

    def fails_on_the_first(sender: Any, **kwargs: Any) -> None:
        if kwargs["payload"]["n"] == 1:
            raise RuntimeError("receiver down")

    def publish(sender: Any, **kwargs: Any) -> None:
        assert kwargs["merchant_id"] == 7 and kwargs["type"] == "member.tier_changed"
        published.append(kwargs["payload"])

    event_recorded.connect(record)
    event_published.connect(fails_on_the_first)
    event_published.connect(publish)
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks, caplog.at_level(logging.ERROR):
            publish_many(merchant_id=7, type="member.tier_changed", payloads=({"n": n} for n in (1, 2, 3)))
            assert recorded == [{"n": 1}, {"n": 2}, {"n": 3}]
            assert published == []
        # One callback for the batch; a receiver failing on one event neither stops the others nor
        # the events after it.
        assert len(callbacks) == 1
        assert published == [{"n": 1}, {"n": 2}, {"n": 3}]
        assert "receiver down" in caplog.text
        publish_many(merchant_id=7, type="member.tier_changed", payloads=[])
    finally:
        event_recorded.disconnect(record)
        event_published.disconnect(fails_on_the_first)
        event_published.disconnect(publish)
