"""Fixtures of the marketing tests: the file SMS backend, members with and without consent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.factories import MemberFactory

from tessera.marketing.tests.factories import TemplateFactory


class SmsLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def messages(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines()]

    def phones(self) -> list[str]:
        return [m["phone"] for m in self.messages()]


@pytest.fixture
def sms_log(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.SMS_BACKEND = "file"
    settings.VAR_DIR = tmp_path
    return SmsLog(tmp_path / "sms.log")


@pytest.fixture
def sms_template(merchant):  # type: ignore[no-untyped-def]
    return TemplateFactory(merchant=merchant, name="Khuyến mãi", body_vi="Chào {{ name }}! Mã: {{ code }}")


@pytest.fixture
def audience(merchant):  # type: ignore[no-untyped-def]
    """Three members who accept marketing SMS, one who does not, one excluded (but consenting)."""
    yes = [
        MemberFactory(merchant=merchant, full_name=f"Khách {i}", phone=f"+8490100000{i}", marketing_sms=True)
        for i in range(3)
    ]
    no = MemberFactory(merchant=merchant, full_name="Không đồng ý", phone="+84901000009", marketing_sms=False)
    excluded = MemberFactory(
        merchant=merchant, full_name="Bị loại", phone="+84901000008", marketing_sms=True, status="excluded"
    )
    return {"yes": yes, "no": no, "excluded": excluded}
