"""Issue 12, K3: any JSON value in any field of any POST body the OpenAPI document declares — huge and
negative integers, floats, booleans, null, strings with control characters or lone surrogates, nested
lists and objects — is answered 2xx, or 4xx in problem+json; never a 5xx. Afterwards the ledger is
whole (`verify_ledger`, what `tessera verify-ledger` runs, finds nothing).

Each example starts from the operation's documented example (or a minimal body of its required
fields), on a merchant with a member, points, a stored-value card and a pending sale, and replaces one
field, top-level or inside a list of objects (`lines.0.quantity`)."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.api import api
from tessera.cards.tests.factories import CardTypeFactory
from tessera.cards.tests.helpers import active_card
from tessera.core.problem import CONTENT_TYPE
from tessera.ledger.selectors import verify_ledger
from tessera.members.services import set_member_pin
from tessera.points.services import save_policy
from tessera.sales import services as sales
from tessera.sales import stored_value
from tessera.sales.services import SaleLine
from tessera.tenancy.services import create_api_key
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db

DOCUMENT = api.get_openapi_schema()
COMPONENTS: dict[str, Any] = DOCUMENT["components"]["schemas"]
PHONE = "0903123456"


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema behind a `$ref`, and the non-null choice of an optional field (`anyOf [X, null]`)."""
    while True:
        if "$ref" in schema:
            schema = COMPONENTS[schema["$ref"].rsplit("/", 1)[1]]
        elif "anyOf" in schema:
            schema = next((s for s in schema["anyOf"] if s.get("type") != "null"), schema["anyOf"][0])
        else:
            return schema


def sample(schema: dict[str, Any]) -> Any:
    """A plausible value: the documented example, else the simplest one of the type."""
    schema = resolve(schema)
    if schema.get("examples"):
        return copy.deepcopy(schema["examples"][0])
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return body_of(schema)
    if kind == "array":
        return [sample(schema.get("items", {}))]
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1
    if kind == "boolean":
        return False
    if schema.get("format") == "date":
        return "2026-01-15"
    if schema.get("format") == "date-time":
        return "2026-01-15T10:00:00+07:00"
    return "x" * max(1, schema.get("minLength", 1))


def body_of(schema: dict[str, Any]) -> dict[str, Any]:
    """The example of an object schema, completed with its required fields and one item in each list
    of objects (so that the items' fields can be fuzzed too)."""
    schema = resolve(schema)
    examples = schema.get("examples") or [{}]
    body: dict[str, Any] = copy.deepcopy(examples[0]) if isinstance(examples[0], dict) else {}
    for name, prop in schema.get("properties", {}).items():
        item = resolve(resolve(prop).get("items", {}))
        if name not in body and (name in schema.get("required", ()) or "properties" in item):
            body[name] = sample(prop)
    return body


def fields(schema: dict[str, Any], prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    schema = resolve(schema)
    found: list[tuple[Any, ...]] = []
    for name, prop in schema.get("properties", {}).items():
        found.append((*prefix, name))
        prop = resolve(prop)
        item = resolve(prop.get("items", {}))
        if "properties" in item:
            found.extend(fields(item, (*prefix, name, 0)))
        elif "properties" in prop:
            found.extend(fields(prop, (*prefix, name)))
    return found


def posts() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path, item in DOCUMENT["paths"].items():
        operation = item.get("post")
        content = operation.get("requestBody", {}).get("content", {}) if operation else {}
        # JSON bodies; a file upload (multipart, the imports) is fuzzed by the hostile-upload tests.
        if "application/json" in content:
            found.append((path, content["application/json"]["schema"]))
    return found


POSTS = posts()

#: Strings a careless or hostile client sends: controls (NUL breaks PostgreSQL), a lone surrogate,
#: non-ASCII digits, RTL override, very long text, formulas, markup.
NASTY_TEXT = [
    "\x00",
    "a\x00b",
    "\x1b[31m",
    "\u0085",
    "\ud800",
    "²",
    "١٢٣",
    "\u202eabc",
    "x" * 10_000,
    "=1+2",
    "<script>alert(1)</script>",
    "",
    " ",
    "0903123456\x00",
]
NASTY_NUMBERS = [0, -1, 2**31, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30, -(10**30)]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(NASTY_NUMBERS),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(NASTY_TEXT),
    st.text(max_size=30),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


def schema_at(schema: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    for step in path:
        schema = resolve(schema)
        schema = schema["items"] if isinstance(step, int) else schema["properties"][step]
    return resolve(schema)


def values_for(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Any JSON value, or half the time one of the field's own type at its edges (so the example gets
    past the schema and into the services)."""
    kind = schema.get("type")
    if kind == "integer":
        typed = st.sampled_from(NASTY_NUMBERS) | st.integers() | st.booleans()
    elif kind == "string" and schema.get("format") in ("date", "date-time"):
        edges = ["0001-01-01", "9999-12-31", "1899-12-31", "2026-02-30", "2026-01-15T25:00:00"]
        typed = st.sampled_from(edges) | st.dates().map(str)
    elif kind == "string":
        typed = st.sampled_from(NASTY_TEXT) | st.text(max_size=40)
    elif kind == "array":
        typed = st.lists(values_for(resolve(schema.get("items", {}))), max_size=4) | st.just([])
    else:
        typed = json_values
    return st.one_of(json_values, typed, typed)


def with_value(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return body


@pytest.fixture
def world(merchant) -> dict[str, Any]:
    """A till's key in the documented example store, a member with a PIN, points and a stored-value card
    with money on it, and a pending sale."""
    save_policy(merchant=merchant, pending_days=0)
    store = StoreFactory(merchant=merchant, code="hanoi-1", name="Hà Nội 1")
    member = MemberFactory(merchant=merchant, phone="+84903123456", full_name="Nguyễn Văn An")
    set_member_pin(member=member, pin="2468")
    sales.add_points(member=member, store=store, actor=None, points=500)
    card = active_card(
        CardTypeFactory(merchant=merchant, kind="stored_value", number_prefix="97"), phone=PHONE
    )
    stored_value.top_up(card=card, amount=200_000, payment_method="cash", store=store)
    sale = sales.create_transaction(
        merchant=merchant, store=store, member=member, lines=[SaleLine("Phở bò", 2, 65000)]
    )
    key = create_api_key(merchant=merchant, name="Fuzz till", store=store).raw_key
    return {
        "client": Client(HTTP_AUTHORIZATION=f"Bearer {key}"),
        "path_values": {
            "transaction_id": sale.pk,
            "order_id": "ORD-1",
            "number": card.number,
            "redemption_id": 1,
            "code_id": 1,
            "member_id": member.pk,
        },
    }


class _AnyId(dict):  # type: ignore[type-arg]
    """The world's ids, and 1 for any other (the management API's: a till's key gets 403 there)."""

    def __missing__(self, key: str) -> int:
        return 1


def assert_clear_answer(response: Any, sent: Any) -> None:
    status, content_type = response.status_code, response.get("Content-Type", "")
    assert status < 500, (status, response.content[:500], sent)
    if status >= 400:
        assert content_type == CONTENT_TYPE, (status, content_type, response.content[:300], sent)
        body = response.json()
        assert (body["status"], bool(body["code"]), bool(body["detail"])) == (status, True, True), body
    else:
        assert content_type.split(";")[0] == "application/json", (status, content_type, sent)


@pytest.mark.parametrize(("path", "schema"), POSTS, ids=[path for path, _ in POSTS])
def test_random_json_in_any_body_field_is_answered_2xx_or_4xx_problem_and_the_ledger_stays_whole(
    world, path, schema
):
    url = path.format_map(_AnyId(world["path_values"]))
    base = body_of(schema)
    paths = fields(schema)
    client = world["client"]

    @given(data=st.data())
    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def post_one(data: st.DataObject) -> None:
        field = data.draw(st.sampled_from(paths), label="field")
        value = data.draw(values_for(schema_at(schema, field)), label="value")
        body = with_value(base, field, value)
        response = client.post(
            url,
            json.dumps(body),
            content_type="application/json",
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert_clear_answer(response, {".".join(map(str, field)): value})

    post_one()
    assert verify_ledger() == []
