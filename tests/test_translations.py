"""Every user-facing string ships in Vietnamese and Simplified Chinese, compiled (three languages)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.utils import translation

LOCALE = Path(__file__).resolve().parent.parent / "src" / "tessera" / "locale"


def _untranslated_and_fuzzy(language: str) -> tuple[int, list[str], list[str]]:
    """(entries, msgids without a translation, fuzzy msgids) of a .po file, read without extra packages."""
    text = (LOCALE / language / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    entries, untranslated, fuzzy = 0, [], []
    for block in text.split("\n\n")[1:]:  # the first block is the header
        lines = [line for line in block.splitlines() if line and not line.startswith("#~")]
        msgid_lines = [line for line in lines if line.startswith("msgid ")]
        if not msgid_lines:
            continue
        entries += 1
        msgid = msgid_lines[0][len("msgid ") :]
        start = next(i for i, line in enumerate(lines) if line.startswith("msgstr"))
        msgstr = lines[start].split(" ", 1)[1].strip('"') + "".join(
            line.strip('"') for line in lines[start + 1 :] if line.startswith('"')
        )
        if not msgstr:
            untranslated.append(msgid)
        if any(line.startswith("#,") and "fuzzy" in line for line in lines):
            fuzzy.append(msgid)
    return entries, untranslated, fuzzy


@pytest.mark.parametrize("language", ["vi", "zh_Hans"])
def test_every_message_is_translated_and_none_is_fuzzy(language):
    entries, untranslated, fuzzy = _untranslated_and_fuzzy(language)

    assert entries > 500
    assert untranslated == []
    assert fuzzy == []


@pytest.mark.parametrize(
    ("language", "expected"), [("vi", "Thành viên"), ("zh-hans", "会员"), ("en", "Members")]
)
def test_compiled_catalogues_are_loaded(language, expected):
    with translation.override(language):
        assert translation.gettext("Members") == expected


@pytest.mark.parametrize(
    ("language", "expected"), [("vi", "1.500.000"), ("zh-hans", "1,500,000"), ("en", "1,500,000")]
)
def test_amounts_are_grouped_by_thousands_in_each_language(language, expected):
    from django.contrib.humanize.templatetags.humanize import intcomma

    with translation.override(language):
        assert intcomma(1500000) == expected


@pytest.mark.parametrize(
    ("language", "amount", "currency", "expected"),
    [
        ("vi", 1500000, "VND", "1.500.000\xa0₫"),
        ("en", 1500000, "VND", "₫1,500,000"),
        ("zh-hans", 150050, "CNY", "¥1,500.50"),
    ],
)
def test_money_is_shown_in_the_readers_number_format(language, amount, currency, expected):
    from tessera.core.formatting import format_money

    with translation.override(language):
        assert format_money(amount, currency) == expected


def _framework_messages() -> set[str]:
    """The one-line messages the admin framework (django-unfold) marks for translation in its code and
    templates — read from the installed package, so an upgrade that adds strings fails here."""
    import re

    import unfold

    package = Path(unfold.__file__).resolve().parent
    patterns = [
        re.compile(r"""\b(?:_|gettext|gettext_lazy)\(\s*"([^"\n]+)"\s*\)"""),
        re.compile(r"""\{%\s*(?:trans|translate)\s+"([^"\n]+)"\s*%\}"""),
        re.compile(r"""\{%\s*(?:trans|translate)\s+'([^'\n]+)'\s*%\}"""),
    ]
    found: set[str] = set()
    for path in [*package.rglob("*.py"), *package.rglob("*.html")]:
        text = path.read_text(encoding="utf-8", errors="replace")
        for pattern in patterns:
            found.update(pattern.findall(text))
    return {message for message in found if "%(" not in message and "{" not in message}


@pytest.mark.parametrize("language", ["vi", "zh-hans"])
def test_the_admin_frameworks_own_text_is_translated(language):
    """Issue 14: "Search apps and models…", "Filters", "Select action" … were English in the vi and zh-Hans
    back office; src/tessera/framework_locale supplies them."""
    messages = _framework_messages()
    assert {"Search apps and models...", "Filters", "Select action", "Reset filters"} <= messages

    with translation.override(language):
        untranslated = sorted(message for message in messages if translation.gettext(message) == message)

    assert untranslated == []
