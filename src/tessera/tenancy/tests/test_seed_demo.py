"""`tessera seed_demo`: the demo installation `make run` starts with (A1, A2, B1, B2, C1)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from tessera.members.models import Member, MemberStatus
from tessera.tenancy import services
from tessera.tenancy.management.commands.seed_demo import DEMO_PASSWORD
from tessera.tenancy.models import ApiKey, Merchant, StaffMembership

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", "--url", "http://127.0.0.1:8123", stdout=out)
    return out.getvalue()


def test_seed_demo_builds_two_isolated_merchants_and_is_idempotent():
    printed = _seed()

    pho = Merchant.objects.get(slug="pho-ha-noi")
    tea = Merchant.objects.get(slug="tea-house")
    assert (pho.name, pho.currency, pho.time_zone, pho.default_language) == (
        "Phở Hà Nội", "VND", "Asia/Ho_Chi_Minh", "vi",
    )  # fmt: skip
    assert (tea.currency, tea.time_zone, tea.default_language) == ("CNY", "Asia/Shanghai", "zh-hans")
    assert [s.name for s in pho.stores.order_by("code")] == ["Hoàn Kiếm", "Quận 1"]
    assert Member.objects.of(pho).count() == 300
    assert Member.objects.of(tea).count() == 20
    an = Member.objects.of(pho).get(full_name="Nguyễn Văn An")
    assert str(an.phone).startswith("+84")
    statuses = set(Member.objects.of(pho).values_list("status", flat=True))
    assert statuses == {MemberStatus.ACTIVE, MemberStatus.NOT_ACTIVATED, MemberStatus.EXCLUDED}
    assert Member.objects.of(pho).exclude(preferences="").exists()
    assert Member.objects.of(pho).filter(tags__isnull=False).exists()

    cashier1 = StaffMembership.objects.get(user__username="cashier1")
    assert cashier1.merchant == pho and [s.code for s in cashier1.stores.all()] == ["hoan-kiem"]
    assert StaffMembership.objects.get(user__username="admin").all_stores
    assert User.objects.get(username="operator").is_superuser
    assert User.objects.get(username="manager").check_password(DEMO_PASSWORD)

    assert "http://127.0.0.1:8123/admin/" in printed
    assert "http://127.0.0.1:8123/api/v1/docs" in printed
    raw_keys = [w for w in printed.split() if w.startswith("tsk_")]
    assert len(raw_keys) == 3
    assert all(services.authenticate_api_key(raw_key=k) is not None for k in raw_keys)

    again = _seed()

    assert Member.objects.of(pho).count() == 300
    assert ApiKey.objects.count() == 3
    assert StaffMembership.objects.count() == 7
    assert not [w for w in again.split() if w.startswith("tsk_")]  # a key is shown only when created
