"""Every refusal is a clear answer (issue 12, K3): a rule that says no is a problem+json with its own
status and stable `code` — never an HTML 500 — and an error's own state never takes the name of an
RFC 9457 member (`status` travels as `resource_status`)."""

from __future__ import annotations

import importlib
import pkgutil
import uuid
from typing import Any

import pytest
from django.core.exceptions import RequestDataTooBig
from django.test import Client

import tessera
from tessera.cards.tests.factories import CardTypeFactory
from tessera.cards.tests.helpers import active_card, stock_card
from tessera.core.errors import DomainError
from tessera.core.problem import CONTENT_TYPE
from tessera.members.models import MemberStatus
from tessera.members.services import set_member_pin
from tessera.points.services import save_policy
from tessera.sales import selectors as sales_selectors
from tessera.sales import services as sales_services
from tessera.tenancy.services import create_api_key
from tests.factories import MemberFactory, StoreFactory, staff_user

pytestmark = pytest.mark.django_db

PIN = "2468"
BASKET = {"phone": "0903123456", "lines": [{"name": "Phở bò", "quantity": 2, "unit_price": 65000}]}


class Pos:
    """A till with its API key; each POST gets a fresh Idempotency-Key unless one is given."""

    def __init__(self, raw_key: str) -> None:
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    def get(self, path: str) -> Any:
        return self.client.get(f"/api/v1{path}")

    def post(self, path: str, body: dict[str, Any] | None = None, *, key: str | None = None) -> Any:
        return self.client.post(
            f"/api/v1{path}",
            body or {},
            content_type="application/json",
            headers={"Idempotency-Key": key or uuid.uuid4().hex},
        )


@pytest.fixture
def store(merchant):
    save_policy(merchant=merchant, pending_days=0)
    return StoreFactory(merchant=merchant, code="hoan-kiem", name="Hoàn Kiếm")


@pytest.fixture
def member(merchant):
    member = MemberFactory(merchant=merchant, phone="+84903123456", full_name="Nguyễn Văn An")
    set_member_pin(member=member, pin=PIN)
    return member


@pytest.fixture
def pos(merchant, store):
    return Pos(create_api_key(merchant=merchant, name="POS 1", store=store).raw_key)


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert (response.status_code, response["Content-Type"]) == (status, CONTENT_TYPE), response.content[:300]
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code)
    assert body["type"] == f"https://tessera.dev/problems/{code}" and body["detail"]
    return body


def voided_sale(pos: Pos) -> int:
    sale = pos.post("/transactions", BASKET).json()
    assert pos.post(f"/transactions/{sale['id']}/void", {"reason": "Wrong table"}).status_code == 200
    return int(sale["id"])


# --- the reproductions of issue 12 -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "body", "status", "code"),
    [
        ("confirm", {"method": "pin", "pin": PIN}, 409, "not_pending"),
        ("otp", {}, 409, "not_pending"),
        ("refunds", {}, 409, "not_confirmed"),
    ],
)
def test_a_voided_sale_refuses_confirm_otp_and_refund_and_the_retry_replays_the_refusal(
    pos, member, action, body, status, code
):
    """E2, E9: the refusal of a voided sale says why, with the sale's status as `resource_status`; the
    retry with the same Idempotency-Key gets the same answer back."""
    sale = voided_sale(pos)

    first = pos.post(f"/transactions/{sale}/{action}", body, key=f"{action}-1")
    retry = pos.post(f"/transactions/{sale}/{action}", body, key=f"{action}-1")

    problem = assert_problem(first, status, code)
    assert problem["resource_status"] == "voided"
    assert problem["instance"] == f"/api/v1/transactions/{sale}/{action}"
    assert_problem(retry, status, code)
    assert (retry.json(), retry["Idempotent-Replayed"]) == (problem, "true")


def test_refunding_a_pending_sale_is_409_not_confirmed(pos, member):
    """E9: only a confirmed sale is refunded."""
    sale = pos.post("/transactions", BASKET).json()

    problem = assert_problem(pos.post(f"/transactions/{sale['id']}/refunds", {}), 409, "not_confirmed")

    assert problem["resource_status"] == "pending"


@pytest.mark.parametrize(
    ("path", "body"),
    [("/transactions", BASKET), ("/points/add", {"phone": "0903123456", "amount_spent": 500000})],
)
def test_c2_an_excluded_member_cannot_buy_or_be_given_points(pos, member, path, body):
    """C2: an excluded member neither earns nor spends: 422 `member_not_active`."""
    type(member).objects.filter(pk=member.pk).update(status=MemberStatus.EXCLUDED)

    problem = assert_problem(pos.post(path, body), 422, "member_not_active")

    assert problem["resource_status"] == "excluded"


def test_d3_activating_an_active_card_for_another_phone_is_409_invalid_transition(pos, merchant, member):
    card = active_card(CardTypeFactory(merchant=merchant), phone="0903123456")

    problem = assert_problem(
        pos.post(f"/cards/{card.number}/activate", {"phone": "0912000111"}), 409, "invalid_transition"
    )

    assert problem["resource_status"] == "active"


def test_e6_topping_up_a_stored_value_card_still_in_stock_is_409_card_not_usable(pos, merchant):
    card = stock_card(CardTypeFactory(merchant=merchant, kind="stored_value", number_prefix="97"))

    body = {"card_code": card.number, "amount": 100000, "payment_method": "cash"}
    problem = assert_problem(pos.post("/stored-value/top-ups", body), 409, "card_not_usable")

    assert problem["resource_status"] == "generated"


def test_h1_the_scanner_says_a_card_in_stock_is_not_usable_in_problem_json(client, merchant, store):
    """H1: the scanner's answers are built by the same function as the API's."""
    client.force_login(staff_user(merchant, "cashier", stores=[store], username="cashier-1").user)
    card = stock_card(CardTypeFactory(merchant=merchant))

    response = client.get("/staff/scan/lookup/", {"q": card.number})

    assert_problem(response, 409, "card_not_usable")
    assert response.json()["resource_status"] == "generated"


# --- the sweep: every DomainError of the code base ---------------------------------------------------


def _all_domain_errors() -> list[type[DomainError]]:
    for module in pkgutil.walk_packages(tessera.__path__, "tessera."):
        if not any(part in ("tests", "migrations") for part in module.name.split(".")):
            importlib.import_module(module.name)
    found: list[type[DomainError]] = []
    pending = [DomainError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


DOMAIN_ERRORS = _all_domain_errors()
#: Extension members named like the problem's own: each must travel as `resource_<name>`.
RESERVED_DETAIL = {"status": "voided", "type": "sale", "title": "HD-1", "detail": "x", "instance": "/y"}


def test_the_sweep_finds_the_errors_of_every_app():
    names = {cls.__module__.split(".")[1] for cls in DOMAIN_ERRORS}
    assert {"core", "sales", "ledger", "rewards", "portal"} <= names
    assert len(DOMAIN_ERRORS) >= 15


@pytest.mark.parametrize("error", DOMAIN_ERRORS, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_every_domain_error_is_a_problem_through_the_api_and_the_idempotent_path(
    pos, member, monkeypatch, error
):
    """Issue 12: raised by a GET endpoint (the API's handler) and inside an idempotent POST (stored and
    replayed), each DomainError answers its own status and code in problem+json, and its fields named
    like RFC 9457 members come back under `resource_<name>`."""

    def refuse(**kwargs: Any) -> Any:
        # Built past a subclass's own __init__ (InsufficientBalance takes only its numbers).
        exc = error.__new__(error)
        DomainError.__init__(exc, "Refused for the test.", amount=7, **RESERVED_DETAIL)
        raise exc

    monkeypatch.setattr(sales_selectors, "get_sale", refuse)
    monkeypatch.setattr(sales_services, "void_transaction", refuse)  # it finds the sale itself

    answers = [
        pos.get("/transactions/1"),
        pos.post("/transactions/1/void", {}, key="sweep"),
        pos.post("/transactions/1/void", {}, key="sweep"),
    ]

    for response in answers:
        body = assert_problem(response, error.status, error.code)
        assert body["detail"] == "Refused for the test."
        assert {key: body[f"resource_{key}"] for key in RESERVED_DETAIL} == RESERVED_DETAIL
        assert body["amount"] == 7
    assert answers[2]["Idempotent-Replayed"] == "true"


# --- every answer under /api/v1/ and /hooks/ is problem+json -------------------------------------------


def test_an_unknown_address_under_the_api_is_a_404_problem(pos):
    assert_problem(pos.get("/no-such-thing"), 404, "not_found")
    assert_problem(Client().get("/api/v1/"), 404, "not_found")


def test_a_method_the_address_does_not_take_is_a_405_problem_with_allow(pos):
    response = pos.client.delete("/api/v1/transactions")

    assert_problem(response, 405, "unsupported_method")
    assert "POST" in response["Allow"]


def test_a_body_over_the_upload_limit_is_a_413_problem(pos, member, settings):
    """Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default) bounds the API's bodies; over it, the
    answer says so instead of an HTML 400, and nothing was done."""
    body = {"phone": "0903123456", "points": 5, "note": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)}

    problem = assert_problem(pos.post("/points/add", body), 413, "payload_too_large")

    assert problem["limit"] == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert not member.accounts.exists()


def test_a_body_found_too_large_while_the_view_reads_it_is_a_413_problem(pos, monkeypatch):
    """A body without a Content-Length (chunked) is measured as it is read, inside the view."""

    def read_too_much(**kwargs: Any) -> Any:
        raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")

    monkeypatch.setattr(sales_selectors, "get_sale", read_too_much)

    assert_problem(pos.get("/transactions/1"), 413, "payload_too_large")


def test_an_unexpected_failure_is_a_500_problem_logged_with_its_traceback_and_not_told(
    merchant, store, monkeypatch, caplog
):
    """Issue 12: a bug of ours answers 500 `internal_error` in problem+json; the traceback goes to the
    log, nothing of it to the client; an idempotent POST that failed so is not stored (retry runs again)."""
    pos = Pos(create_api_key(merchant=merchant, name="POS 1", store=store).raw_key)
    pos.client.raise_request_exception = False

    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("secret-internal-detail")

    monkeypatch.setattr(sales_selectors, "get_sale", broken)
    monkeypatch.setattr(sales_services, "void_transaction", broken)  # it finds the sale itself

    answers = [
        pos.get("/transactions/1"),
        pos.post("/transactions/1/void", {}, key="boom"),
        pos.post("/transactions/1/void", {}, key="boom"),
    ]

    for response in answers:
        assert_problem(response, 500, "internal_error")
        assert b"secret-internal-detail" not in response.content
    assert not answers[2].has_header("Idempotent-Replayed")
    logged = [r for r in caplog.records if r.name == "django.request" and r.exc_info]
    assert len(logged) == 3 and "secret-internal-detail" in str(logged[0].exc_info[1])


def test_a_request_for_another_host_is_a_400_problem(pos):
    response = pos.client.get("/api/v1/lookup", {"phone": "0903123456"}, HTTP_HOST="attacker.example")

    assert_problem(response, 400, "bad_request")


def test_webhook_addresses_answer_problems_too(client, settings):
    """K1: an unknown /hooks/ address, a GET, and a delivery over the size limit."""
    address = "/hooks/00000000-0000-0000-0000-000000000000/"
    too_big = b"{" + b" " * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + b"}"

    assert_problem(client.get("/hooks/nothing-here/"), 404, "not_found")
    assert_problem(client.get(address), 405, "unsupported_method")
    assert_problem(client.post(address, too_big, content_type="application/json"), 413, "payload_too_large")
    assert_problem(
        client.post("/hooks/messaging/" + address[7:], too_big, content_type="application/json"),
        413,
        "payload_too_large",
    )


def test_the_unsubscribe_page_for_people_stays_a_page(client):
    response = client.get("/hooks/messaging/unsubscribe/not-a-token/")

    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_pages_outside_the_api_keep_their_html_404(client):
    response = client.get("/m/no-such-merchant-anywhere/")

    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "body", ["[null, null]", "7", '"x"', "null", '{"points": NaN}', "{", '{"phone": "\\ud800"}']
)
def test_a_body_that_is_not_one_json_object_is_a_400_problem(pos, member, body):
    """ninja's schemas read attributes, so `[null, null]` used to pass as a body with every field left
    out; NaN and Infinity are not JSON (RFC 8259); a lone surrogate is no character (PostgreSQL refused
    it with a 500)."""
    response = pos.client.post(
        "/api/v1/integrations/customers",
        body,
        content_type="application/json",
        headers={"Idempotency-Key": "k"},
    )

    assert_problem(response, 400, "invalid_body")
