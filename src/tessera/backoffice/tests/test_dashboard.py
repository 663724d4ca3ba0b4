"""The merchant dashboard: members, points issued/spent/expired, stored value, sales and top stores, scoped
to the merchant and to a store-scoped user's stores (B1, B2, J7; issue 5 "a dashboard per merchant")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from tests.factories import MemberFactory, StoreFactory, staff_user

from tessera.backoffice.dashboard import dashboard_callback
from tessera.backoffice.selectors import Scope, dashboard_figures
from tessera.backoffice.tests.shop import confirmed_sale, joined_days_ago, shop
from tessera.ledger import services as ledger
from tessera.ledger.models import AccountKind, EntryKind
from tessera.members.models import MemberStatus
from tessera.sales import services as sales

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def busy_shop(merchant, other_merchant):
    """Hand-computed (VND, 1 point per 10,000 đồng, a point worth 100 đồng):

    store A: +100 points by hand; a 250,000 sale earns 25; 5 points deducted; 500,000 stored value topped up.
    store B: a 120,000 sale paying 10 points (1,000 đồng) earns floor(119,000 / 10,000) = 11.
    40 points earned 370 days ago, already expired, are recorded as such.
    Another merchant sells too: none of it counts here.
    """
    s = shop(merchant)
    admin = staff_user(merchant, "merchant_admin").user
    MemberFactory(merchant=merchant, full_name="Active today")
    MemberFactory(merchant=merchant, full_name="Not activated", status=MemberStatus.NOT_ACTIVATED)
    MemberFactory(merchant=merchant, full_name="Excluded", status=MemberStatus.EXCLUDED)
    old_timer = MemberFactory(merchant=merchant, full_name="Old timer")
    joined_days_ago(old_timer, 10)

    sales.add_points(member=s.member, store=s.store_a, actor=admin, points=100, note="welcome")
    confirmed_sale(member=s.member, store=s.store_a, amount=250_000)
    confirmed_sale(member=s.member, store=s.store_b, amount=120_000, points_to_spend=10)
    sales.deduct_points(member=s.member, points=5, reason="mistake", store=s.store_a, actor=admin)
    sales.add_points(
        member=old_timer,
        store=s.store_a,
        actor=admin,
        points=40,
        occurred_on=timezone.localdate() - timedelta(days=370),
        record_expired=True,
    )
    wallet = ledger.open_account(merchant=merchant, kind=AccountKind.STORED_VALUE, member=s.member)
    ledger.credit(account=wallet, amount=500_000, kind=EntryKind.TOP_UP, store=s.store_a, source="test")

    tea = shop(other_merchant, phone="+8613812345678", name="王芳")
    confirmed_sale(member=tea.member, store=tea.store_a, amount=99_900)
    return s


def test_dashboard_figures_for_the_whole_merchant_are_the_hand_computed_ones(busy_shop):
    figures = dashboard_figures(scope=Scope(merchant=busy_shop.merchant))

    # Active: only the shop's member bought or moved points this week (the old timer's points only
    # expired); new: the four registered this week (the old timer joined 10 days ago).
    assert (figures.members_active, figures.members_new) == (1, 4)
    assert figures.imported_points == 0
    assert (figures.points_issued, figures.points_spent, figures.points_expired) == (136, 10, 40)
    assert figures.points_outstanding == 100 + 25 - 10 + 11 - 5
    assert figures.stored_value_outstanding == 500_000
    assert (figures.sales_count, figures.sales_amount) == (2, 370_000)
    assert [(row.name, row.sales, row.amount) for row in figures.top_stores] == [
        ("Hoàn Kiếm", 1, 250_000),
        ("Quận 1", 1, 120_000),
    ]
    assert len(figures.days) == 7 and figures.days[-1] == timezone.localdate(timezone=busy_shop.merchant.tz)
    assert (figures.issued_by_day[-1], figures.spent_by_day[-1]) == (136, 10)
    assert sum(figures.expired_by_day) == 40  # on the day they expired, a few days ago
    assert figures.sales_by_day[-1] == 370_000 and sum(figures.sales_by_day[:-1]) == 0


def test_a_store_scoped_user_sees_only_what_happened_in_their_store(busy_shop):
    cashier = staff_user(busy_shop.merchant, "cashier", stores=[busy_shop.store_b])

    figures = dashboard_figures(scope=Scope.of_staff(cashier))

    assert (figures.points_issued, figures.points_spent, figures.points_expired) == (11, 10, 0)
    assert figures.points_outstanding == 1  # net of what moved in store B
    assert figures.stored_value_outstanding == 0
    assert (figures.sales_count, figures.sales_amount) == (1, 120_000)
    assert [row.name for row in figures.top_stores] == ["Quận 1"]
    # Members are the merchant's, whatever the store (A2).
    assert figures.members_active == 1


def test_the_dashboard_page_shows_the_merchants_figures_and_nothing_of_another_merchant(busy_shop):
    client = Client()
    client.force_login(staff_user(busy_shop.merchant, "merchant_admin").user)

    response = client.get(reverse("backoffice:dashboard"))

    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="fig-points-issued">136<' in body
    assert 'id="fig-sales-amount">370.000\xa0₫<' in body
    assert 'id="fig-stored-value">500.000\xa0₫<' in body
    assert "99,900" not in body and "王芳" not in body
    figures = response.context["d"]["figures"]
    assert figures.sales_count == 2
    assert '"data": [' in response.context["d"]["points_chart"]


def test_each_panel_shows_only_to_users_allowed_to_see_its_data(busy_shop):
    client = Client()
    # Marketing may see members and account balances, not ledger entries nor sales.
    client.force_login(staff_user(busy_shop.merchant, "marketing").user)

    body = client.get(reverse("backoffice:dashboard")).content.decode()

    assert 'id="fig-members-active">1<' in body
    assert 'id="fig-stored-value"' in body
    assert 'id="fig-points-issued"' not in body
    assert 'id="fig-sales-amount"' not in body


def test_an_operator_picks_a_merchant(busy_shop, other_merchant, django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD))

    picker = client.get(reverse("backoffice:dashboard"))
    chosen = client.get(reverse("backoffice:dashboard"), {"merchant": other_merchant.pk})

    assert picker.status_code == 200 and "figures" not in picker.context["d"]
    assert 'id="merchant-picker"' in picker.content.decode()
    assert chosen.context["d"]["figures"].sales_amount == 99_900
    assert client.get(reverse("backoffice:dashboard"), {"merchant": 999_999}).status_code == 404


def test_a_user_who_is_not_staff_is_sent_to_the_login_page(busy_shop):
    response = Client().get(reverse("backoffice:dashboard"))

    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_admin_home_shows_the_dashboard_through_unfolds_callback(busy_shop, settings):
    settings.UNFOLD = {
        **settings.UNFOLD,
        "DASHBOARD_CALLBACK": "tessera.backoffice.dashboard.dashboard_callback",
    }
    client = Client()
    client.force_login(staff_user(busy_shop.merchant, "merchant_admin").user)

    body = client.get(reverse("admin:index")).content.decode()

    assert 'id="dashboard"' in body and 'id="fig-points-issued">136<' in body


def test_the_callback_leaves_an_operators_index_plain(busy_shop, django_user_model):
    request = RequestFactory().get("/admin/")
    request.user = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    request.staff = None

    context = dashboard_callback(request, {"title": "x"})

    assert "dashboard" not in context and context["dashboard_operator"] is True


def test_a_store_scoped_cashier_sees_their_store_on_the_page(busy_shop):
    other_store = StoreFactory(merchant=busy_shop.merchant, code="c", name="Cầu Giấy")
    client = Client()
    client.force_login(
        staff_user(busy_shop.merchant, "cashier", stores=[busy_shop.store_b, other_store]).user
    )

    response = client.get(reverse("backoffice:dashboard"))

    assert response.context["d"]["figures"].sales_amount == 120_000
    assert "Cầu Giấy" in response.context["d"]["stores_label"]


# --- each role's home page, and no revenue for a cashier (issue 14) -------------------------------------


@pytest.mark.parametrize(
    ("role", "lands_on_the_till"),
    [
        ("cashier", True),
        ("merchant_admin", False),
        ("store_manager", False),
        ("finance", False),
        ("marketing", False),
    ],
)
def test_each_role_lands_on_its_home_page_after_logging_in(busy_shop, role, lands_on_the_till):
    staff = staff_user(busy_shop.merchant, role, username=f"home-{role}")
    client = Client()

    logged_in = client.post(
        reverse("admin:login"), {"username": staff.user.username, "password": PASSWORD, "next": "/admin/"}
    )
    home = client.get(logged_in["Location"])

    assert logged_in["Location"] == "/admin/"
    if lands_on_the_till:
        assert home.status_code == 302 and home["Location"] == reverse("backoffice:cashier")
        till = client.get(home["Location"])
        assert till.status_code == 200 and 'id="cashier-lookup"' in till.content.decode()
        # Its sidebar offers no dashboard that would only lead back to the till.
        assert "/admin/" not in _sidebar_links(till)
    else:
        assert home.status_code == 200 and 'id="dashboard"' in home.content.decode()
        assert "/admin/" in _sidebar_links(home)


def _sidebar_links(response) -> set[str]:
    sections = response.context["sidebar_navigation"]
    return {str(item["link"]) for section in sections for item in section["items"] if item["has_permission"]}


def test_a_cashier_sees_no_merchant_revenue_on_the_dashboard(busy_shop):
    client = Client()
    client.force_login(staff_user(busy_shop.merchant, "cashier").user)

    response = client.get(reverse("backoffice:dashboard"))

    body = response.content.decode()
    assert response.status_code == 200 and 'id="fig-members-active">1<' in body
    assert response.context["d"]["show_sales"] is False
    for revenue in ('id="fig-sales-amount"', 'id="top-stores"', "370.000", "250.000", "120.000"):
        assert revenue not in body, revenue


def test_a_store_manager_who_may_see_reports_sees_the_revenue(busy_shop):
    client = Client()
    client.force_login(staff_user(busy_shop.merchant, "store_manager").user)

    body = client.get(reverse("backoffice:dashboard")).content.decode()

    assert 'id="fig-sales-amount">370.000\xa0₫<' in body and 'id="top-stores"' in body


# --- the period, the previous period and imported balances (issue 14) -----------------------------------


def _import_opening_balances(merchant, points_by_member: dict) -> None:
    """What a member import does for balances (imports.services): ADJUST entries with source import:N."""
    ledger.credit_opening_balances(
        merchant=merchant,
        balances=[
            ledger.OpeningBalance(
                member_id=member.pk, amount=amount, earned_at=timezone.now() - timedelta(days=200)
            )
            for member, amount in points_by_member.items()
        ],
        source="import:7",
    )


def test_imported_opening_balances_are_not_points_issued_and_are_shown_apart(busy_shop):
    newcomers = {MemberFactory(merchant=busy_shop.merchant, full_name=f"Imported {n}"): 500 for n in range(3)}
    _import_opening_balances(busy_shop.merchant, newcomers)
    client = Client()
    client.force_login(staff_user(busy_shop.merchant, "merchant_admin").user)

    response = client.get(reverse("backoffice:dashboard"))

    figures = response.context["d"]["figures"]
    assert (figures.points_issued, figures.imported_points) == (136, 1_500)
    assert figures.issued_by_day[-1] == 136  # no spike on the import's day
    assert figures.points_outstanding == 121 + 1_500
    # Imported members are new (registered this week) but not active: an imported balance is no visit.
    assert (figures.members_active, figures.members_new) == (1, 4 + 3)
    body = response.content.decode()
    assert 'id="fig-points-issued">136<' in body and 'id="fig-points-imported">1.500<' in body


def test_without_imports_the_imported_line_is_not_shown(busy_shop):
    client = Client()
    client.force_login(staff_user(busy_shop.merchant, "merchant_admin").user)

    body = client.get(reverse("backoffice:dashboard")).content.decode()

    assert 'id="fig-points-imported"' not in body


def test_each_figure_is_compared_with_the_previous_period(busy_shop):
    admin = staff_user(busy_shop.merchant, "merchant_admin", username="prev-admin").user
    # 9 days ago lies in the 7 days before this week: 200 points issued then, by hand.
    sales.add_points(
        member=busy_shop.member,
        store=busy_shop.store_a,
        actor=admin,
        points=200,
        occurred_on=timezone.localdate(timezone=busy_shop.merchant.tz) - timedelta(days=9),
    )
    client = Client()
    client.force_login(admin)

    response = client.get(reverse("backoffice:dashboard"), {"period": "7d"})

    d = response.context["d"]
    today = timezone.localdate(timezone=busy_shop.merchant.tz)
    assert (d["previous_period"].start, d["previous_period"].end) == (
        today - timedelta(days=13),
        today - timedelta(days=7),
    )
    issued = d["changes"]["points_issued"]
    assert (issued.value, issued.previous, issued.delta, issued.percent) == (136, 200, -64, -32)
    sales_amount = d["changes"]["sales_amount"]
    assert (sales_amount.delta, sales_amount.percent) == (370_000, None)  # nothing to compare with
    body = response.content.decode()
    assert 'id="chg-points-issued"' in body and "-64" in body and "(-32%)" in body


@pytest.mark.parametrize(
    ("query", "days_back", "length"),
    [({"period": "today"}, 0, 1), ({"period": "7d"}, 6, 7), ({}, 6, 7)],
)
def test_the_rolling_presets_end_today(busy_shop, query, days_back, length):
    client = Client()
    client.force_login(staff_user(busy_shop.merchant, "merchant_admin").user)

    d = client.get(reverse("backoffice:dashboard"), query).context["d"]

    today = timezone.localdate(timezone=busy_shop.merchant.tz)
    assert (d["period"].start, d["period"].end) == (today - timedelta(days=days_back), today)
    assert len(d["figures"].days) == length


def test_the_month_presets_and_a_custom_range(busy_shop):
    client = Client()
    client.force_login(staff_user(busy_shop.merchant, "merchant_admin").user)
    today = timezone.localdate(timezone=busy_shop.merchant.tz)
    last_month_end = today.replace(day=1) - timedelta(days=1)

    month = client.get(reverse("backoffice:dashboard"), {"period": "month"}).context["d"]
    last = client.get(reverse("backoffice:dashboard"), {"period": "last_month"}).context["d"]
    custom = client.get(
        reverse("backoffice:dashboard"), {"start": "2026-01-01", "end": "2026-01-31"}
    ).context["d"]

    assert (month["period"].start, month["period"].end) == (today.replace(day=1), today)
    assert (last["period"].start, last["period"].end) == (last_month_end.replace(day=1), last_month_end)
    assert last["previous_period"].end == last_month_end.replace(day=1) - timedelta(days=1)
    assert (custom["period"].preset, custom["period"].days, custom["previous_period"].days) == (
        "custom",
        31,
        31,
    )
    assert custom["figures"].points_issued == 0


def test_a_custom_range_backwards_is_refused_on_the_page(busy_shop):
    client = Client()
    client.force_login(staff_user(busy_shop.merchant, "merchant_admin").user)

    response = client.get(reverse("backoffice:dashboard"), {"start": "2026-02-01", "end": "2026-01-01"})

    assert response.status_code == 200
    form = response.context["d"]["period_form"]
    assert form.non_field_errors().as_data()[0].code == "period"
    assert 'role="alert"' in response.content.decode()
    assert response.context["d"]["period"].preset == "7d"
