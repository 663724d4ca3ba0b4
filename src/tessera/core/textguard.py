"""Control characters never get in (issue 12): one check at the door instead of one on every field.

PostgreSQL refuses NUL in text (SQLite stores it), so a NUL that reached a query or a row was a 500 on
one backend and a stored value on the other; other C0/C1 controls (U+0000–001F, U+007F–009F) are
never part of a name, a phone, a code or a search either. What is refused, the same on every backend:

- under /api/v1/ and /hooks/ (programs): a control character in the path, a query parameter (its name
  or value) or a header value (tab allowed, as HTTP allows it), and in any string or key of a JSON body
  (tab and line breaks allowed in string values: notes are multi-line). The answer is 422
  problem+json `invalid_request` naming the field, before any view runs, so nothing is written;
- any other body that is not a form (the JSON of the scanner's and the widget's endpoints): the same
  check, the same answer;
- elsewhere (pages for people): NUL in the path, the query string, a header or an urlencoded form is a
  400 (no browser sends one; several page handlers read fields without a form). Other controls in form
  fields get a form error: `ProhibitControlCharactersValidator` on every form `CharField`, installed by
  `install_form_validator` at start-up (Word pastes a vertical tab for a line break, for instance).

Text read from files (member imports) is checked where it is read: a row error in the dry run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from django import forms
from django.core.exceptions import BadRequest, SuspiciousOperation, ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tessera.core.middleware import machine_facing
from tessera.core.problem import problem

#: Unicode category Cc, which `tessera.core.limits.control_characters` refuses: C0 and DEL–C1.
_ANY = re.compile("[\x00-\x1f\x7f-\x9f]")
#: The same but tab, line feed and carriage return (multi-line text).
_BUT_LINE_BREAKS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: In header values HTTP allows a tab.
_BUT_TAB = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
#: Forms: NUL is left to Django's own ProhibitNullCharactersValidator (one message, not two).
_FORM = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: A JSON text holds a control character only raw (C0 but JSON's whitespace, DEL, C1 in UTF-8) or escaped
#: (after a backslash): a body with neither, as a till's usually is, is not parsed here at all.
_MAYBE_CONTROL = re.compile(rb"[\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")
#: Enough fields named to fix a request; a body full of them is not worth walking to the end.
MAX_REPORTED = 20
_FORM_BODIES = ("multipart/form-data", "application/x-www-form-urlencoded")


class ControlCharacters(SuspiciousOperation):
    """NUL in the address, headers or form of a page: answered 400 (and logged as `django.security`)."""


def found(text: str, pattern: re.Pattern[str] = _ANY) -> list[str]:
    """The control characters `pattern` finds in `text`, as U+XXXX, each once, in order."""
    return list(dict.fromkeys(f"U+{ord(char):04X}" for char in pattern.findall(text)))


def printable(text: str) -> str:
    return _ANY.sub(lambda match: f"U+{ord(match.group()):04X}", text)


# --- requests ------------------------------------------------------------------------------------------


def _address_and_headers(request: HttpRequest) -> Iterator[tuple[list[Any], str]]:
    """(location, text) of what a request carries besides its body."""
    yield ["path"], request.path_info
    for name, values in request.GET.lists():
        yield ["query", name], name
        for value in values:
            yield ["query", name], value
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str):
            yield ["header", key[5:].replace("_", "-").title()], value


def _page_texts(request: HttpRequest) -> Iterator[str]:
    """What a page request carries besides a JSON body: its address, headers and urlencoded form. (Not
    a multipart form: Django streams its files, and its fields go to forms, which refuse NUL.)"""
    for _location, text in _address_and_headers(request):
        yield text
    if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
        try:
            fields = list(request.POST.lists())
        except (BadRequest, SuspiciousOperation):  # too large, too many fields: the view's to refuse
            return
        for name, values in fields:
            yield name
            yield from values


def _json_strings(data: Any) -> Iterator[tuple[list[Any], str, bool]]:
    """(location, text, is_key) of every string of a JSON document, walked without recursion."""
    stack: list[tuple[list[Any], Any]] = [(["body"], data)]
    while stack:
        location, value = stack.pop()
        if isinstance(value, str):
            yield location, value, False
        elif isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                yield [*location, key], key, True
                stack.append(([*location, key], item))
        elif isinstance(value, list):
            stack.extend(([*location, index], item) for index, item in reversed(list(enumerate(value))))


def _body(request: HttpRequest, *, forms_too: bool = False) -> bytes:
    """The body, unless reading it here would change what the view sees: a page's form upload is
    streamed by Django (a program's, the imports', is checked by its fields: `request_errors`), and a
    body over the limit is the view's to refuse (413)."""
    if request.content_type in _FORM_BODIES and not forms_too:
        return b""
    try:
        return request.body
    except (BadRequest, SuspiciousOperation):
        return b""


def body_errors(body: bytes) -> list[dict[str, Any]]:
    """What a JSON body carries that it must not. A body that is not JSON is left to the view, unless it
    holds a NUL byte: webhooks store the raw body as text."""
    if not body or not _MAYBE_CONTROL.search(body):
        return []
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return [_error(["body"], ["U+0000"])] if b"\x00" in body else []
    errors = []
    for location, text, is_key in _json_strings(data):
        if chars := found(text, _ANY if is_key else _BUT_LINE_BREAKS):
            errors.append(_error(location, chars))
            if len(errors) == MAX_REPORTED:
                break
    return errors


def _address_and_headers_clean(request: HttpRequest) -> bool:
    """True when neither the address nor a header holds a control character: two searches over the
    texts joined by a space, the common case for a till's request (issue 13: a lookup's CPU). Only when
    one finds something are the texts walked one by one to name the field."""
    address = [request.path_info]
    for name, values in request.GET.lists():
        address.append(name)
        address.extend(values)
    headers = [
        value for key, value in request.META.items() if key.startswith("HTTP_") and isinstance(value, str)
    ]
    return _ANY.search(" ".join(address)) is None and _BUT_TAB.search(" ".join(headers)) is None


def request_errors(request: HttpRequest) -> list[dict[str, Any]]:
    """Everything a request for a program carries that it must not, as ninja-style validation errors."""
    errors = []
    if not _address_and_headers_clean(request):
        for location, text in _address_and_headers(request):
            pattern = _BUT_TAB if location[0] == "header" else _ANY
            if chars := found(text, pattern):
                errors.append(_error(location, chars))
    if request.content_type == "multipart/form-data":
        # A file upload (the imports): its files are binary (a workbook is a zip, NUL bytes and all)
        # and are read by their own parsers; the form's text fields are checked like a JSON body's.
        return errors[:MAX_REPORTED] or _form_field_errors(request)
    return errors[:MAX_REPORTED] or body_errors(_body(request, forms_too=True))


def _form_field_errors(request: HttpRequest) -> list[dict[str, Any]]:
    try:
        fields = list(request.POST.lists())
    except (BadRequest, SuspiciousOperation):  # too large, too many fields: the view's to refuse
        return []
    errors = []
    for name, values in fields:
        for text in (name, *values):
            if chars := found(text, _BUT_LINE_BREAKS):
                errors.append(_error(["body", name], chars))
    return errors[:MAX_REPORTED]


def _error(location: list[Any], chars: list[str]) -> dict[str, Any]:
    listed = ", ".join(chars)
    return {
        "loc": location,
        "msg": f"control characters are not allowed ({listed})",
        "type": "control_characters",
        "ctx": {"found": listed},
    }


def refusal(request: HttpRequest, errors: list[dict[str, Any]]) -> HttpResponse:
    first = errors[0]
    field = ".".join(printable(str(part)) for part in first["loc"])
    return problem(
        request,
        status=422,
        code="invalid_request",
        detail=_("%(field)s contains control characters (%(found)s), which are not allowed.")
        % {"field": field, "found": first["ctx"]["found"]},
        errors=errors,
    )


class ControlCharacterMiddleware:
    """Refuses control characters before any view runs (placed after LocaleMiddleware, so the refusal is
    in the request's language)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if machine_facing(request.path):
            errors = request_errors(request)
        else:
            if any("\x00" in text for text in _page_texts(request)):
                raise ControlCharacters("NUL in the address, headers or form of a page")
            errors = body_errors(_body(request))
        if errors:
            return refusal(request, errors)
        return self.get_response(request)


# --- forms ---------------------------------------------------------------------------------------------


@deconstructible
class ProhibitControlCharactersValidator:
    """A form field's text holds no control character but tab and line breaks (a textarea's)."""

    message = gettext_lazy("Control characters are not allowed (%(found)s).")
    code = "control_characters"

    def __call__(self, value: Any) -> None:
        if isinstance(value, str) and (chars := found(value, _FORM)):
            raise ValidationError(self.message, code=self.code, params={"found": ", ".join(chars)})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProhibitControlCharactersValidator)


def install_form_validator() -> None:
    """Every form CharField (and the fields built on it: phone, search, model text fields; URLField has
    validators of its own) refuses control characters, as the API does: one place, not one per form."""
    validator = ProhibitControlCharactersValidator()
    for field in (forms.CharField, forms.URLField):
        if validator not in field.default_validators:
            field.default_validators = [*field.default_validators, validator]
