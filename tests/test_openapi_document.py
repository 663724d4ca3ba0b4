"""K3, issue 12: the served OpenAPI document says what the API answers — errors as
application/problem+json (413 and 500 included), the Idempotency-Key's length on every POST, and the
reports' period rule — so generated clients and schemathesis read the truth."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tessera.core.idempotency import HEADER, MAX_KEY_LENGTH
from tessera.core.problem import CONTENT_TYPE

pytestmark = pytest.mark.django_db

PROBLEM = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture(scope="module")
def document(django_db_blocker) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_error_answer_is_declared_as_problem_json(document):
    for method, path, operation in operations(document):
        errors = {status: r for status, r in operation["responses"].items() if int(status) >= 400}
        assert {"500", "503"} <= set(errors), (method, path)
        for status, response in errors.items():
            assert response["content"] == {CONTENT_TYPE: {"schema": PROBLEM}}, (method, path, status)


def test_every_operation_with_a_body_may_answer_413(document):
    for method, path, operation in operations(document):
        assert ("413" in operation["responses"]) == (method in ("post", "put", "patch")), (method, path)


#: POSTs that only read: the key is accepted and ignored, nothing is stored (issue 13 item 7).
READ_ONLY_POSTS = {"/api/v1/quote", "/api/v1/rules/simulate", "/api/v1/earning-rules/simulate"}


def test_every_post_requires_an_idempotency_key_of_1_to_255_characters(document):
    posts = [(path, operation) for method, path, operation in operations(document) if method == "post"]
    assert len(posts) > 20
    for path, operation in posts:
        [header] = [p for p in operation["parameters"] if p["in"] == "header" and p["name"] == HEADER]
        if path in READ_ONLY_POSTS:
            assert header["required"] is False, path
            continue
        assert header["required"] is True, path
        assert (header["schema"]["minLength"], header["schema"]["maxLength"]) == (1, MAX_KEY_LENGTH), path


def test_the_reports_document_their_period_rule(document):
    reports = [(path, op) for method, path, op in operations(document) if path.startswith("/api/v1/reports/")]
    assert len(reports) >= 7
    for path, operation in reports:
        [end] = [p for p in operation["parameters"] if p["name"] == "end"]
        assert "invalid_period" in end["description"] and "period_too_long" in end["description"], path


def test_the_problem_schema_names_its_members(document):
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "code", "detail", "instance"}


#: The configuration endpoints of the management API (issue 17).
CONFIGURATION = (
    "/api/v1/points-policy",
    "/api/v1/earning-rules",
    "/api/v1/tier-program",
    "/api/v1/gifts",
    "/api/v1/promo-code-offers",
    "/api/v1/promo-codes",
    "/api/v1/stores",
    "/api/v1/sales-settings",
    "/api/v1/store-confirmations",
    "/api/v1/occasion-discounts",
    "/api/v1/bonus-rules",
    "/api/v1/top-up-bonus-rules",
)


def test_configuration_operations_have_ids_examples_and_if_match_answers(document):
    seen = 0
    for method, path, operation in operations(document):
        if not path.startswith(CONFIGURATION):
            continue
        seen += 1
        assert operation["operationId"][0].islower() and "_" not in operation["operationId"], path
        assert operation["security"] == [
            {"ApiKeyAuth": ["admin", "admin:read"] if method == "get" else ["admin"]}
        ]
        if method == "patch":
            assert {"412", "428"} <= set(operation["responses"]), path
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        if body:
            ref = body["schema"]["$ref"].rsplit("/", 1)[1]
            assert document["components"]["schemas"][ref].get("examples"), (path, ref)
    assert seen >= 45


def test_the_document_is_built_once_per_process_and_language(monkeypatch):
    """Issue 13: building the document costs about a second of CPU; built per request, a few clients
    polling openapi.json kept every gunicorn worker busy past its timeout on a loaded machine. It is
    built once per script prefix and language, and each language gets its own."""
    from tessera.api import api

    built: list[str] = []
    build = type(api)._build_openapi_schema

    def counting(self, **kwargs):
        built.append(kwargs["path_prefix"] or "")
        return build(self, **kwargs)

    monkeypatch.setattr(type(api), "_build_openapi_schema", counting)
    monkeypatch.setattr(api, "_schemas", {}, raising=False)
    for language in ("en", "vi", "en", "vi", "zh-hans"):
        response = Client().get("/api/v1/openapi.json", HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 200
    assert len(built) == 3


def test_no_two_schemas_share_a_name():
    """The document names each schema once (`#/components/schemas/<name>`): two models of one name, in
    two modules, left one of them described by the other's fields (the simulator's occasions were
    validated against the occasion discounts' resource)."""
    import pydantic

    import tessera.api  # noqa: F401  (every router, so every schema, is imported)

    modules: dict[str, set[str]] = {}

    def walk(cls: type) -> None:
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("tessera."):
                modules.setdefault(sub.__name__, set()).add(sub.__module__)
            walk(sub)

    walk(pydantic.BaseModel)
    assert {name: found for name, found in modules.items() if len(found) > 1} == {}
