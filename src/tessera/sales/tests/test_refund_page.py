"""The back office's "Refund items" page (E9, E11, B1, issue 14), through the real pages: quantities per
line, a preview computed by the service's own code, a confirmation that acts once."""

from __future__ import annotations

import pytest
from django.urls import reverse
from tests.factories import MemberFactory, StoreFactory, staff_user

from tessera.core.idempotency import new_form_token
from tessera.ledger.models import Account, AccountKind
from tessera.sales import services
from tessera.sales.models import Refund, SalesSettings
from tessera.sales.services import SaleLine
from tessera.sales.tests.conftest import PIN
from tessera.tenancy.models import Merchant

pytestmark = pytest.mark.django_db


def a_sale(member, store, *, confirm=True, points_to_spend=0):
    """Two bowls of phở (45,000 each) and three iced teas (5,000 each): 105,000 đồng, 10 points."""
    sale = services.create_transaction(
        merchant=member.merchant,
        store=store,
        member=member,
        lines=[SaleLine("Phở bò", 2, 45000), SaleLine("Trà đá", 3, 5000)],
        points_to_spend=points_to_spend,
    )
    if confirm:
        services.confirm_transaction(transaction=sale, method="pin", pin=PIN)
    return sale


def page_of(sale) -> str:
    return reverse("admin:sales_transaction_refund_lines", args=[sale.pk])


def fields(sale, *, token: str, reason: str = "", **quantities: int) -> dict[str, object]:
    """The form's fields: `pho=1, tea=2` are the quantities of the first and second line."""
    first, second = sale.lines.order_by("position", "pk")
    return {
        f"line_{first.pk}": quantities.get("pho", 0),
        f"line_{second.pk}": quantities.get("tea", 0),
        "reason": reason,
        "token": token,
    }


def points(member) -> int:
    account = Account.objects.filter(member=member, kind=AccountKind.POINTS).first()
    return account.balance if account else 0


def test_e9_manager_refunds_one_drink_after_a_preview_that_equals_the_result(client, merchant, store, member):
    services.add_points(member=member, store=store, actor=None, points=50)
    sale = a_sale(member, store, points_to_spend=20)  # 105,000 − 2,000 paid with points; earns 10
    assert points(member) == 50 - 20 + 10
    client.force_login(staff_user(merchant, "store_manager", stores=[store]).user)
    token = new_form_token()

    form = client.get(page_of(sale))
    preview = client.post(page_of(sale), {**fields(sale, token=token, tea=1), "action": "preview"})

    assert form.status_code == 200
    assert 'name="line_' in form.content.decode()
    assert preview.status_code == 200
    plan = preview.context["plan"]
    assert not Refund.objects.exists()  # a preview writes nothing
    # The tea's share of the 10 points earned is 0 (issue 15 §4), floor(20 × 5,000 / 105,000) = 0 spent.
    assert [(p.line.name, p.quantity, p.amount, p.points) for p in plan.lines] == [("Trà đá", 1, 5000, 0)]

    done = client.post(
        page_of(sale), {**fields(sale, token=token, tea=1, reason="cold"), "action": "confirm"}
    )

    assert done.status_code == 302
    assert done["Location"] == reverse("admin:sales_transaction_change", args=[sale.pk])
    refund = Refund.objects.get()
    assert (refund.amount, refund.points_reversed, refund.points_returned, refund.reason) == (
        plan.amount,
        plan.points_reversed,
        plan.points_returned,
        "cold",
    )
    assert [(line.line.name, line.quantity) for line in refund.lines.all()] == [("Trà đá", 1)]


def test_e9_preview_shows_the_points_that_go_back_and_the_refund_records_them(
    client, merchant, store, member
):
    services.add_points(member=member, store=store, actor=None, points=50)
    sale = a_sale(member, store, points_to_spend=20)
    client.force_login(staff_user(merchant, "store_manager", stores=[store]).user)
    token = new_form_token()

    preview = client.post(page_of(sale), {**fields(sale, token=token, pho=1), "action": "preview"})
    client.post(page_of(sale), {**fields(sale, token=token, pho=1), "action": "confirm"})

    plan = preview.context["plan"]
    # 45,000 of 105,000: floor(10 × 45,000 / 105,000) = 4 earned taken back, floor(20 × …) = 8 given back.
    assert (plan.amount, plan.points_reversed, plan.points_returned) == (45000, 4, 8)
    html = preview.content.decode()
    assert 'id="preview-points-reversed">4<' in html
    assert 'id="preview-points-returned">8<' in html
    refund = Refund.objects.get()
    assert (refund.amount, refund.points_reversed, refund.points_returned) == (45000, 4, 8)
    assert points(member) == 40 - 4 + 8


def test_e11_the_same_confirmation_posted_twice_refunds_once(client, merchant, store, member):
    sale = a_sale(member, store)
    client.force_login(staff_user(merchant, "store_manager", stores=[store]).user)
    confirm = {**fields(sale, token=new_form_token(), tea=1), "action": "confirm"}

    first = client.post(page_of(sale), confirm)
    again = client.post(page_of(sale), confirm)

    assert (first.status_code, again.status_code) == (302, 302)
    assert again["Location"] == first["Location"]
    assert Refund.objects.count() == 1
    assert sale.lines.get(name="Trà đá").refund_lines.get().quantity == 1


def test_e9_more_than_is_left_is_refused_on_the_form(client, merchant, store, member):
    sale = a_sale(member, store)
    services.refund_transaction(transaction=sale, lines={sale.lines.get(name="Trà đá").pk: 2})
    client.force_login(staff_user(merchant, "store_manager", stores=[store]).user)

    response = client.post(
        page_of(sale), {**fields(sale, token=new_form_token(), tea=2), "action": "confirm"}
    )

    assert response.status_code == 422
    assert "Chỉ còn 1 có thể hoàn trả." in response.content.decode()
    assert Refund.objects.count() == 1


def test_e9_refusals_of_the_service_are_shown_in_the_staff_language(client, merchant, store, member):
    pending = a_sale(member, store, confirm=False)
    done = a_sale(member, store)
    services.refund_transaction(transaction=done)
    client.force_login(staff_user(merchant, "store_manager", stores=[store]).user)

    not_confirmed = client.get(page_of(pending))
    nothing_left = client.get(page_of(done))
    nothing_chosen = client.post(page_of(done), {**fields(done, token=new_form_token()), "action": "preview"})

    assert not_confirmed.status_code == nothing_left.status_code == 200
    assert "Chỉ có thể hoàn trả giao dịch bán đã xác nhận." in not_confirmed.content.decode()
    assert "Không còn gì để hoàn trả." in nothing_left.content.decode()
    assert 'name="line_' not in nothing_left.content.decode()
    assert nothing_chosen.status_code == 422
    assert "Hãy nhập số lượng trả lại của ít nhất một mặt hàng." in nothing_chosen.content.decode()
    assert Refund.objects.count() == 1


def test_e9_a_sale_voided_meanwhile_is_a_message_and_the_form_can_be_sent_again(
    client, merchant, store, member
):
    sale = a_sale(member, store)
    client.force_login(staff_user(merchant, "store_manager", stores=[store]).user)
    token = new_form_token()
    client.post(page_of(sale), {**fields(sale, token=token, tea=3), "action": "preview"})
    services.void_transaction(transaction=sale)  # from the POS, while the page was open

    refused = client.post(page_of(sale), {**fields(sale, token=token, tea=3), "action": "confirm"})

    assert refused.status_code == 422
    assert "Chỉ có thể hoàn trả giao dịch bán đã xác nhận." in refused.content.decode()  # the merchant's vi
    assert refused.context["form"]["token"].value() != token  # the refusal is kept with the old one
    assert not Refund.objects.exists()


def test_b1_cashier_may_refund_only_when_the_merchant_allows_it(client, merchant, store, member):
    sale = a_sale(member, store)
    client.force_login(staff_user(merchant, "cashier", stores=[store]).user)
    confirm = {**fields(sale, token=new_form_token(), tea=1), "action": "confirm"}
    receipt = reverse("backoffice:cashier_receipt", args=[sale.pk])
    detail = reverse("admin:sales_transaction_change", args=[sale.pk])

    assert client.get(page_of(sale)).status_code == 403
    assert client.post(page_of(sale), confirm).status_code == 403
    assert page_of(sale) not in client.get(receipt).content.decode()
    assert page_of(sale) not in client.get(detail).content.decode()
    assert not Refund.objects.exists()

    settings = SalesSettings.for_merchant(merchant)
    settings.cashiers_may_refund = True
    settings.save()

    assert page_of(sale) in client.get(receipt).content.decode()
    assert page_of(sale) in client.get(detail).content.decode()
    assert client.post(page_of(sale), confirm).status_code == 302
    assert Refund.objects.get().created_by.staff.merchant == merchant


def test_b1_the_service_refuses_a_cashier_unless_the_merchant_allows_it(merchant, store, member):
    sale = a_sale(member, store)
    cashier = staff_user(merchant, "cashier", stores=[store]).user
    line = sale.lines.get(name="Trà đá").pk

    with pytest.raises(services.PermissionDenied):
        services.refund_transaction(transaction=sale, lines={line: 1}, actor=cashier)
    with pytest.raises(services.PermissionDenied):
        services.preview_refund(transaction=sale, lines={line: 1}, actor=cashier)
    settings = SalesSettings.for_merchant(merchant)
    settings.cashiers_may_refund = True
    settings.save()

    assert services.refund_transaction(transaction=sale, lines={line: 1}, actor=cashier).amount == 5000


def test_b1_finance_never_refunds_whatever_the_setting(client, merchant, store, member):
    sale = a_sale(member, store)
    settings = SalesSettings.for_merchant(merchant)
    settings.cashiers_may_refund = True
    settings.save()
    client.force_login(staff_user(merchant, "finance").user)

    assert client.get(page_of(sale)).status_code == 403


def test_e9_the_sale_page_shows_returned_quantities_and_its_refunds(client, merchant, store, member):
    sale = a_sale(member, store)
    services.refund_transaction(transaction=sale, lines={sale.lines.get(name="Trà đá").pk: 2})
    client.force_login(staff_user(merchant, "store_manager", stores=[store]).user)

    page = client.get(reverse("admin:sales_transaction_change", args=[sale.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    assert "2 × Trà đá" in html  # the refund's items
    assert "tessera-refunds" in html
    returned = {
        form.instance.name: form.instance.refunded_quantity
        for form in page.context["inline_admin_formsets"][0].formset.forms
    }
    assert returned == {"Phở bò": 0, "Trà đá": 2}


def test_a1_another_merchants_sale_is_not_found(client, merchant, store, other_merchant):
    theirs_store = StoreFactory(merchant=other_merchant)
    theirs = a_sale(
        MemberFactory(merchant=other_merchant, phone="+8613800138000"), theirs_store, confirm=False
    )
    client.force_login(staff_user(merchant, "merchant_admin").user)

    assert client.get(page_of(theirs)).status_code == 404


def test_b2_a_manager_of_another_store_does_not_find_the_sale(client, merchant, store, store2, member):
    sale = a_sale(member, store)
    client.force_login(staff_user(merchant, "store_manager", stores=[store2]).user)

    confirm = {**fields(sale, token=new_form_token(), tea=1), "action": "confirm"}

    assert client.get(page_of(sale)).status_code == 404
    assert client.post(page_of(sale), confirm).status_code == 404
    assert not Refund.objects.exists()


def test_cashiers_may_refund_is_set_on_the_sales_settings_form_and_renews_the_cached_configuration(
    client, merchant, store, member
):
    settings = SalesSettings.for_merchant(merchant)
    version = Merchant.objects.get(pk=merchant.pk).config_version
    client.force_login(staff_user(merchant, "merchant_admin").user)
    url = reverse("admin:sales_salessettings_change", args=[settings.pk])
    form = client.get(url).context["adminform"].form
    posted = {name: value for name, value in form.initial.items() if value is not None and value is not False}

    response = client.post(url, {**posted, "cashiers_may_refund": "on"})

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert SalesSettings.objects.get(pk=settings.pk).cashiers_may_refund is True
    assert Merchant.objects.get(pk=merchant.pk).config_version != version  # cached copies are stale now
