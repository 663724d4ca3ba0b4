from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests.factories import MemberFactory

from tessera.cards.tests.factories import CardTypeFactory
from tessera.cards.tests.helpers import active_card


@pytest.fixture
def sms_log(settings, tmp_path):
    """The file SMS backend, writing to a fresh VAR_DIR/sms.log; returns a reader of the last code sent."""
    settings.SMS_BACKEND = "file"
    settings.VAR_DIR = tmp_path
    return SmsLog(tmp_path / "sms.log")


class SmsLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def messages(self) -> list[dict[str, object]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines()]

    def last_code(self, phone: str) -> str:
        texts = [m["text"] for m in self.messages() if m["phone"] == phone]
        match = re.search(r"\b(\d{6})\b", str(texts[-1]))
        assert match, texts
        return match.group(1)


@pytest.fixture
def member(merchant):
    return MemberFactory(merchant=merchant, phone="+84903123456", full_name="Nguyễn Văn An")


@pytest.fixture
def card(merchant, member):
    return active_card(CardTypeFactory(merchant=merchant, name="Thẻ thành viên"), phone="0903123456")
