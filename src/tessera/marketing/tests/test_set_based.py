"""Issue 16: a campaign's SMS rows built in SQL (`SetBased`) are the rows the general path builds —
same recipients, consent decisions, texts and SMS parts — whatever the names, balances and template."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.factories import MemberFactory

from tessera.ledger.models import Account, AccountKind
from tessera.marketing import rendering, services
from tessera.marketing.models import Campaign, CampaignStatus, Message, MessageStatus
from tessera.marketing.tests.factories import TemplateFactory
from tessera.members.models import Member
from tessera.members.services import save_segment

pytestmark = pytest.mark.django_db

COMPARED = ("member_id", "to", "language", "subject", "body", "parts", "status", "error", "is_marketing")

#: Vietnamese, GSM symbols and escapes, other scripts, an astral emoji: each branch of stripping and counting.
LETTERS = "aAđĐăâêôơưÀÁẢÃẠàáảãạễỆỗữỳÿéÉüñ €^{}[]~|\\\n\r\f\t`'\"$@_ΔΩ£¥¤§¡¿中文😀·–«»0123456789"
names = st.text(alphabet=LETTERS, max_size=40)
literals = st.text(alphabet=LETTERS.replace("{", "").replace("}", ""), max_size=30)
placeholders = st.sampled_from(["{{ name }}", "{{points}}", "{{ code }}", "{{ merchant }}", "{{ amount }}"])
bodies = st.lists(st.one_of(literals, placeholders), min_size=1, max_size=8).map("".join)
recipients = st.lists(
    st.tuples(
        names,
        st.integers(min_value=0, max_value=10**15),
        st.booleans(),  # consents
        st.sampled_from(["active", "excluded", "erased"]),
    ),
    min_size=1,
    max_size=4,
)


def _points(member: Member, balance: int) -> None:
    Account.objects.update_or_create(
        merchant_id=member.merchant_id, member=member, kind=AccountKind.POINTS, defaults={"balance": balance}
    )


def _general(batch: services.Batch, members) -> list[tuple]:  # type: ignore[no-untyped-def]
    rows = services.recipient_values(members, batch.used, timezone.now())
    from django.utils import translation

    with translation.override(batch.language):
        built = [batch.values(row) for row in rows]
    return sorted(tuple(values[k] for k in COMPARED) for values in built)


def _written(campaign: Campaign) -> list[tuple]:
    return sorted(Message.objects.filter(campaign=campaign).values_list(*COMPARED))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the set-based path is PostgreSQL's")
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, strip=st.booleans(), language=st.sampled_from(["vi", "en", "zh_hans"]), people=recipients)
def test_set_based_rows_equal_the_general_renderers(merchant, body, strip, language, people):  # type: ignore[no-untyped-def]
    with transaction.atomic():
        fields = {f"body_{suffix}": "" for suffix in ("vi", "en", "zh_hans")}
        fields[f"body_{language}"] = body if body.strip() else body + "x"
        template = TemplateFactory(merchant=merchant, strip_diacritics=strip, **fields)
        campaign = Campaign.objects.create(
            merchant=merchant,
            name="Hypothesis",
            template=template,
            audience="list",
            code="KM-Đặc biệt",
            status=CampaignStatus.DRAFT,
        )
        ids = []
        for index, (name, balance, consents, status) in enumerate(people):
            member = MemberFactory(merchant=merchant, phone=f"+8498{index:07d}", marketing_sms=consents)
            changes: dict = {"full_name": name}
            if status == "excluded":
                changes["status"] = "excluded"
            if status == "erased":
                changes["erased_at"] = timezone.now() - timedelta(days=1)
            Member.objects.filter(pk=member.pk).update(**changes)
            _points(member, balance)
            ids.append(member.pk)
        batch = services.campaign_batch(campaign)
        plan = services.SetBased.of(batch, connection)
        assert plan is not None
        members = Member.objects.filter(pk__in=ids).order_by("pk")
        assert plan.queue(members, lambda: True) == len(ids)
        written = _written(campaign)
        assert written == _general(batch, members)
        assert plan.queue(members, lambda: True) == len(ids)  # again: nothing more, nothing changed
        assert _written(campaign) == written
        transaction.set_rollback(True)


def test_names_kept_by_stripping_are_exactly_those_stripping_leaves_alone():  # type: ignore[no-untyped-def]
    for ch in LETTERS + "".join(rendering.GSM_BASIC | rendering.GSM_EXTENDED):
        assert rendering.kept_by_stripping(ch) == (rendering.strip_diacritics(ch) == ch), ch


@given(text=names)
def test_kept_by_stripping_matches_strip_diacritics(text):  # type: ignore[no-untyped-def]
    assert rendering.kept_by_stripping(text) == (rendering.strip_diacritics(text) == text)


def test_a_campaign_queues_the_same_rows_on_either_path(merchant, audience, settings):  # type: ignore[no-untyped-def]
    """Through `queue_campaign`: the set-based path on PostgreSQL, the general one elsewhere, same rows."""
    template = TemplateFactory(
        merchant=merchant,
        body_vi="Chào {{ name }}, bạn có {{ points }} điểm. Mã {{ code }}",
        strip_diacritics=True,
    )
    for member in Member.objects.of(merchant):
        _points(member, 1234567)
    segment = save_segment(merchant=merchant, name="Tất cả", filters={})
    campaign = services.create_campaign(
        merchant=merchant, name="Tết", template=template, segment=segment, code="T1"
    )
    services.launch_campaign(campaign=campaign)
    assert services.queue_campaign(campaign_id=campaign.pk) == 5
    batch = services.campaign_batch(campaign)
    assert _written(campaign) == _general(batch, Member.objects.of(merchant).order_by("pk"))
    queued = Message.objects.get(member=audience["yes"][1])
    assert queued.status == MessageStatus.QUEUED
    assert queued.body == "Chao Khach 1, ban co 1.234.567 diem. Ma T1"
    assert queued.parts == 1
    assert (services.SetBased.of(batch, connection) is not None) == (connection.vendor == "postgresql")
