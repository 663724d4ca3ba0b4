"""The back office's "Points policy" page (issue 13 item 1, issue 15 §1): one page per merchant, scoped,
saved through the service, renewing the cached configuration, and saying a change applies from now on."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from tests.factories import staff_user

from tessera.points.models import ExpiryKind, Policy
from tessera.tenancy.models import Merchant

pytestmark = pytest.mark.django_db

LIST = reverse("admin:points_policy_changelist")


def page(policy: Policy) -> str:
    return reverse("admin:points_policy_change", args=[policy.pk])


def form_of(client: Any, url: str) -> dict[str, Any]:
    form = client.get(url).context["adminform"].form
    return {name: value for name, value in form.initial.items() if value is not None and value is not False}


def test_the_menu_opens_the_merchants_own_policy_created_with_defaults(client, merchant):
    client.force_login(staff_user(merchant, "merchant_admin").user)

    response = client.get(LIST)

    policy = Policy.objects.get(merchant=merchant)
    assert response.status_code == 302 and response.url == page(policy)
    assert (policy.expiry, policy.expiry_period, policy.earn_per_amount) == (ExpiryKind.MONTHS, 12, 10000)


def test_saving_a_yearly_reset_renews_the_configuration_and_says_it_applies_from_now_on(client, merchant):
    user = staff_user(merchant, "merchant_admin").user
    client.force_login(user)
    policy = Policy.for_merchant(merchant)
    version = Merchant.objects.get(pk=merchant.pk).config_version
    posted = form_of(client, page(policy))

    reset = {"expiry": "yearly_reset", "reset_month": 2, "reset_day": 29, "notice_days": 30}
    response = client.post(page(policy), {**posted, **reset})

    assert response.status_code == 302, response.context["adminform"].form.errors
    policy.refresh_from_db()
    assert (policy.expiry, policy.reset_month, policy.reset_day, policy.notice_days) == (
        "yearly_reset",
        2,
        29,
        30,
    )
    assert policy.history.first().history_user == user
    assert Merchant.objects.get(pk=merchant.pk).config_version != version
    shown = [str(m) for m in get_messages(response.wsgi_request)]  # in the merchant's language
    assert "Chính sách mới áp dụng cho điểm tích từ bây giờ." in " ".join(shown), shown


def test_a_reset_day_the_month_lacks_is_refused(client, merchant):
    client.force_login(staff_user(merchant, "merchant_admin").user)
    policy = Policy.for_merchant(merchant)
    posted = form_of(client, page(policy))

    reset = {"expiry": "yearly_reset", "reset_month": 2, "reset_day": 30}
    response = client.post(page(policy), {**posted, **reset})

    assert response.status_code == 200
    assert "reset_day" in response.context["adminform"].form.errors
    assert Policy.objects.get(pk=policy.pk).expiry == ExpiryKind.MONTHS


def test_the_page_of_another_merchant_is_not_found(client, merchant, other_merchant):
    client.force_login(staff_user(merchant, "merchant_admin").user)
    theirs = Policy.for_merchant(other_merchant)

    assert client.get(page(theirs)).status_code == 404
    assert client.post(page(theirs), {"expiry": "never"}).status_code == 404
    assert Policy.objects.get(pk=theirs.pk).expiry == ExpiryKind.MONTHS


def test_finance_sees_the_policy_and_cashiers_do_not(client, merchant):
    policy = Policy.for_merchant(merchant)
    client.force_login(staff_user(merchant, "finance").user)
    assert client.get(page(policy)).status_code == 200
    assert client.post(page(policy), {"expiry": "never"}).status_code == 403

    client.force_login(staff_user(merchant, "cashier").user)
    assert client.get(LIST).status_code == 403
    assert client.get(page(policy)).status_code == 403
