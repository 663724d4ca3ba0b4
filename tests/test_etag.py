"""ETag / If-Match (issue 17): an update names the version it read; a stale or missing one is refused."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from tessera.core.etag import PreconditionFailed, PreconditionRequired, etag_of, require_if_match


def _request(if_match: str | None):
    headers = {} if if_match is None else {"HTTP_IF_MATCH": if_match}
    return RequestFactory().patch("/api/v1/anything", **headers)


def test_the_tag_follows_what_is_shown_not_the_order_of_its_keys() -> None:
    assert etag_of({"a": 1, "b": [1, 2]}) == etag_of({"b": [1, 2], "a": 1})
    assert etag_of({"a": 1}) != etag_of({"a": 2})
    assert etag_of({"a": 1}).startswith('"') and etag_of({"a": 1}).endswith('"')


def test_the_current_tag_a_list_of_tags_a_weak_tag_and_star_pass() -> None:
    shown = {"name": "Gold", "threshold": 1000}
    tag = etag_of(shown)
    for sent in (tag, f'"other", {tag}', f"W/{tag}", "*"):
        require_if_match(_request(sent), shown)


def test_a_stale_tag_is_412_and_no_tag_is_428() -> None:
    shown = {"name": "Gold"}
    stale = etag_of({"name": "Silver"})
    with pytest.raises(PreconditionFailed) as failed:
        require_if_match(_request(stale), shown)
    assert failed.value.status == 412 and failed.value.detail["etag"] == etag_of(shown)
    with pytest.raises(PreconditionRequired) as required:
        require_if_match(_request(None), shown)
    assert required.value.status == 428
