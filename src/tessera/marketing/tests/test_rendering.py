"""I1: template variables, SMS length and parts, Vietnamese without diacritics."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.core.errors import ValidationFailed
from tessera.marketing import rendering, services
from tessera.marketing.models import ChannelKind, MessageTemplate
from tessera.marketing.tests.factories import TemplateFactory


def test_i1_a_template_renders_only_known_variables():
    text = "Chào {{ name }}, bạn có {{points}} điểm."
    assert rendering.check_variables(text) == ["name", "points"]
    assert rendering.render(text, {"name": "An", "points": "1.200"}) == "Chào An, bạn có 1.200 điểm."


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Hi {{ password }}", "unknown_variable"),
        ("Hi {{ member.phone }}", "invalid_template_syntax"),
        ("{% load static %}Hi", "invalid_template_syntax"),
        ("Hi {{ name|upper }}", "invalid_template_syntax"),
        ("Hi {{ name ", "invalid_template_syntax"),
    ],
)
def test_i1_unknown_variables_and_other_template_syntax_are_refused(text, code):
    with pytest.raises(ValidationFailed) as refused:
        rendering.check_variables(text)
    assert refused.value.code == code


def test_i1_the_refusal_names_the_unknown_variable_and_the_allowed_ones():
    with pytest.raises(ValidationFailed) as refused:
        rendering.check_variables("{{ nam }} {{ secret }}")
    message = str(refused.value)
    assert "{{ nam }}, {{ secret }}" in message and "{{ name }}" in message and "{{ code }}" in message


def test_i1_gsm_text_is_160_characters_in_one_part_and_153_per_part_beyond():
    assert rendering.sms_info("a" * 160) == rendering.SmsInfo("GSM-7", 160, 1, 160)
    assert rendering.sms_info("a" * 161) == rendering.SmsInfo("GSM-7", 161, 2, 153)
    assert rendering.sms_info("a" * 306).parts == 2
    assert rendering.sms_info("a" * 307).parts == 3
    # The extension table (€, brackets) costs two septets.
    assert rendering.sms_info("€" * 80) == rendering.SmsInfo("GSM-7", 160, 1, 160)
    assert rendering.sms_info("€" * 81).parts == 2


def test_i1_vietnamese_with_diacritics_is_ucs2_70_then_67_per_part():
    text = "Chúc mừng sinh nhật"
    assert rendering.sms_info(text).encoding == "UCS-2"
    assert rendering.sms_info("ư" * 70) == rendering.SmsInfo("UCS-2", 70, 1, 70)
    assert rendering.sms_info("ư" * 71) == rendering.SmsInfo("UCS-2", 71, 2, 67)
    assert rendering.sms_info("ư" * 135).parts == 3


def test_i1_without_diacritics_vietnamese_becomes_gsm_and_d_with_stroke_becomes_d():
    plain = rendering.strip_diacritics("Chúc mừng sinh nhật, Đức! Đồng hồ đẹp. Giá 50.000đ")
    assert plain == "Chuc mung sinh nhat, Duc! Dong ho dep. Gia 50.000d"
    assert rendering.sms_info(plain).encoding == "GSM-7"
    # GSM's own accented letters stay.
    # Even the accented letters GSM has lose their accent: no half-stripped Vietnamese.
    assert rendering.strip_diacritics("Chào bạn, café à Noël, 5£") == "Chao ban, cafe a Noel, 5£"


@given(st.text(max_size=400))
def test_i1_stripped_text_is_always_gsm_and_parts_never_fewer_than_needed(text):
    info = rendering.sms_info(rendering.strip_diacritics(text))
    assert info.encoding == "GSM-7"
    assert info.parts * info.per_part >= info.length


@pytest.mark.django_db
def test_i1_the_preview_shows_each_language_with_its_encoding_and_parts(merchant):
    template = TemplateFactory(
        merchant=merchant,
        body_vi="Chúc mừng sinh nhật {{ name }}! Tặng bạn mã {{ code }}, điểm hiện có: {{ points }}.",
        body_en="Happy birthday {{ name }}! Your code: {{ code }}",
        strip_diacritics=False,
    )
    previews = {p.language: p for p in services.preview(template)}

    assert set(previews) == {"vi", "en"}
    assert previews["vi"].body == (
        "Chúc mừng sinh nhật Nguyễn Thị Minh Khai! Tặng bạn mã TET2026, điểm hiện có: 12.500."
    )
    assert (previews["vi"].info.encoding, previews["vi"].info.parts) == ("UCS-2", 2)
    assert previews["en"].body == "Happy birthday Nguyễn Thị Minh Khai! Your code: TET2026"

    template.strip_diacritics = True
    vi = {p.language: p for p in services.preview(template)}["vi"]
    assert vi.body.startswith("Chuc mung sinh nhat Nguyen Thi Minh Khai!")
    assert (vi.info.encoding, vi.info.parts) == ("GSM-7", 1)


@pytest.mark.django_db
def test_i1_saving_a_template_with_an_unknown_variable_changes_nothing(merchant):
    template = MessageTemplate(
        merchant=merchant, name="Sai", channel=ChannelKind.SMS, body_vi="Chào {{ ten }}"
    )
    with pytest.raises(ValidationFailed) as refused:
        services.save_template(template=template)
    assert refused.value.code == "unknown_variable"
    assert not MessageTemplate.objects.exists()


_SMS_ALPHABET = sorted(rendering.GSM_BASIC | rendering.GSM_EXTENDED) + list("àéđươ中文😀")


@given(st.text(alphabet=st.sampled_from(_SMS_ALPHABET), max_size=400))
def test_sms_length_counts_septets_or_utf16_units_character_by_character(text):
    """I1: the regular-expression count equals the definition: GSM-7 when every character is in the
    GSM alphabet (escaped ones count two septets), else UTF-16 code units."""
    info = rendering.sms_info(text)
    if all(ch in rendering.GSM_BASIC or ch in rendering.GSM_EXTENDED for ch in text):
        expected = ("GSM-7", sum(2 if ch in rendering.GSM_EXTENDED else 1 for ch in text))
    else:
        expected = ("UCS-2", len(text.encode("utf-16-le")) // 2)
    assert (info.encoding, info.length) == expected
