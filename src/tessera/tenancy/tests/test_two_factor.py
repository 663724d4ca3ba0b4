"""Staff two-factor login (B4, issue 12): enrolment, the second login step, recovery codes, lockout, a
reset by the merchant admin, and a merchant that requires it for the users who can change settings,
roles or balances."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone, translation
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from tests.factories import staff_user

from tessera.core.errors import PermissionDenied, ValidationFailed
from tessera.tenancy import services, two_factor
from tessera.tenancy.models import StaffMembership

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # what tests.factories.staff_user sets
VERIFY = reverse("backoffice:two_factor_verify")
ENROL = reverse("backoffice:two_factor")


def in_vietnamese(message: str) -> str:
    """Staff pages speak the merchant's language (Vietnamese here)."""
    with translation.override("vi"):
        return translation.gettext(message)


def _enrol(user) -> list[str]:
    device = two_factor.start_enrolment(user=user)
    return two_factor.confirm_enrolment(user=user, token=f"{totp(device.bin_key):06d}")


def _next_code(user) -> str:
    """The app's code one step ahead: the code of this step was spent at enrolment, and a code is
    accepted once only (django-otp refuses replays); the device allows one step of clock drift."""
    return f"{totp(TOTPDevice.objects.get(user=user).bin_key, drift=1):06d}"


def _wait_out_throttle(user) -> None:
    """Each wrong code makes the next try wait (1 s, 2 s, …); move the last failure into the past."""
    past = timezone.now() - timedelta(minutes=10)
    TOTPDevice.objects.filter(user=user).update(throttling_failure_timestamp=past)
    StaticDevice.objects.filter(user=user).update(throttling_failure_timestamp=past)


def _login(client, username, password=PASSWORD):
    return client.post(
        reverse("admin:login"), {"username": username, "password": password, "next": "/admin/"}
    )


def _code(client, code, next_url="/admin/"):
    return client.post(VERIFY, {"code": code, "next": next_url})


@pytest.fixture
def boss(merchant):
    return staff_user(merchant, "merchant_admin", username="boss")


# --- enrolment ----------------------------------------------------------------------------------------


def test_b4_enrolment_shows_a_qr_code_and_key_then_ten_recovery_codes_once(client, boss):
    client.force_login(boss.user)

    off = client.get(ENROL)
    assert off.status_code == 200
    assert off.context["enabled"] is False and off.context["pending"] is None
    assert client.post(ENROL, {"action": "start"}).status_code == 302
    page = client.get(ENROL)
    device = TOTPDevice.objects.get(user=boss.user)
    assert not device.confirmed
    html = page.content.decode()
    ours = html[html.index('id="two-factor"') :]
    assert 'id="two-factor-qr"' in ours and "<path" in ours
    assert "<script" not in ours[: ours.index("</form>")]  # no inline script: the page works under a CSP
    assert page.context["secret"].replace(" ", "") in device.config_url  # the key, typed by hand
    assert "no-store" in page["Cache-Control"]

    wrong = client.post(ENROL, {"action": "confirm", "code": "000000"})
    assert wrong.context["form"].errors["code"]
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed

    shown = client.post(ENROL, {"action": "confirm", "code": f"{totp(device.bin_key):06d}"})

    assert shown.status_code == 200
    codes = shown.context["codes"]
    assert len(codes) == two_factor.RECOVERY_CODE_COUNT == 10
    assert all(code in shown.content.decode() for code in codes)
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert StaticToken.objects.filter(device__user=boss.user).count() == 10
    # This session proved the app: it is verified; the codes are never shown again.
    again = client.get(ENROL)
    assert again.context["enabled"] is True and again.context["codes_left"] == 10
    assert not any(code in again.content.decode() for code in codes)
    assert client.get(reverse("admin:index")).status_code == 200


def test_b4_setting_up_twice_is_refused(boss):
    _enrol(boss.user)

    with pytest.raises(two_factor.TwoFactorError) as refused:
        two_factor.start_enrolment(user=boss.user)

    assert refused.value.code == "two_factor_already_on"


# --- the second login step ----------------------------------------------------------------------------


def test_b4_after_enrolment_login_needs_a_code_a_wrong_one_is_refused_the_right_one_lets_in(client, boss):
    _enrol(boss.user)

    assert _login(client, "boss").status_code == 302
    gated = client.get("/admin/")
    assert gated.status_code == 302
    assert gated["Location"] == f"{VERIFY}?next=%2Fadmin%2F"
    assert client.get(VERIFY).status_code == 200

    wrong = _code(client, "123456")
    assert wrong.status_code == 200
    assert wrong.context["form"].errors["code"] == [in_vietnamese("This code is not right.")]
    assert client.get("/admin/").status_code == 302

    _wait_out_throttle(boss.user)
    right = _code(client, _next_code(boss.user))

    assert right.status_code == 302 and right["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_b4_a_recovery_code_works_once(client, boss):
    codes = _enrol(boss.user)
    _login(client, "boss")

    used = _code(client, codes[3].upper().replace("", " ").strip())  # typed in capitals, with spaces

    assert used.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert StaticToken.objects.filter(device__user=boss.user).count() == 9
    client.post(reverse("admin:logout"))

    _login(client, "boss")
    _wait_out_throttle(boss.user)
    again = _code(client, codes[3])

    assert again.status_code == 200
    assert again.context["form"].errors["code"]
    assert client.get("/admin/").status_code == 302


def test_b4_an_unverified_session_reaches_no_back_office_page(client, boss):
    _enrol(boss.user)
    _login(client, "boss")

    for path in (
        reverse("admin:index"),
        reverse("admin:members_member_changelist"),
        reverse("admin:tenancy_staffmembership_changelist"),
        reverse("backoffice:dashboard"),
        reverse("backoffice:two_factor"),  # no new app nor recovery codes before the code
        reverse("reports:index"),
        reverse("scanner:scan"),
    ):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith(VERIFY), path
    posted = client.post(reverse("admin:tenancy_staffmembership_changelist"), {"action": "deactivate"})
    assert posted.status_code == 302 and posted["Location"] == VERIFY
    # The admin site itself says no, also for pages the middleware would not see.
    request = RequestFactory().get("/admin/")
    request.user = boss.user
    assert not admin.site.has_permission(request)
    # Logging out stays possible.
    assert client.post(reverse("admin:logout")).status_code in (200, 302)
    assert "_auth_user_id" not in client.session


def test_b4_wrong_codes_count_as_failed_logins_and_lock_the_account(client, boss):
    _enrol(boss.user)
    _login(client, "boss")

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _wait_out_throttle(boss.user)
        assert _code(client, "000000").status_code == 200
    _wait_out_throttle(boss.user)
    locked = _code(client, "000000")

    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session  # the half-open session is closed
    # The password alone no longer opens anything from here either, not even with the right code next.
    assert _login(client, "boss").status_code == 429


def test_b4_wrong_codes_make_the_next_try_wait(client, boss):
    _enrol(boss.user)
    _login(client, "boss")
    _code(client, "000000")

    too_soon = _code(client, _next_code(boss.user))

    assert too_soon.status_code == 200
    assert too_soon.context["form"].errors["code"] == [
        in_vietnamese("Too many wrong codes. Wait a few seconds and try again.")
    ]
    assert client.get("/admin/").status_code == 302
    with pytest.raises(two_factor.TooManyAttempts):
        two_factor.verify_token(user=boss.user, token="000000")


def test_b4_the_code_page_sends_a_verified_user_on_and_only_to_this_site(client, boss):
    _enrol(boss.user)
    _login(client, "boss")

    response = _code(client, _next_code(boss.user), next_url="https://evil.example/")

    assert response["Location"] == "/admin/"
    assert client.get(VERIFY + "?next=/admin/members/").url == "/admin/members/"


def test_b4_users_without_two_factor_log_in_with_the_password_alone(client, merchant):
    staff_user(merchant, "cashier", username="lan")

    assert _login(client, "lan").status_code == 302
    home = client.get("/admin/", follow=True)  # a cashier's home page is the till (issue 14)
    assert home.status_code == 200 and home.redirect_chain == [(reverse("backoffice:cashier"), 302)]


# --- the staff user's own page --------------------------------------------------------------------------


def test_b4_new_recovery_codes_replace_the_old_ones(boss):
    old = _enrol(boss.user)

    new = two_factor.new_recovery_codes(user=boss.user)

    assert len(new) == 10 and not set(old) & set(new)
    assert set(StaticToken.objects.filter(device__user=boss.user).values_list("token", flat=True)) == set(new)


def test_b4_turning_two_factor_off_needs_a_code(client, boss):
    _enrol(boss.user)
    _login(client, "boss")
    _code(client, _next_code(boss.user))

    refused = client.post(ENROL, {"action": "disable", "code": "000000"})
    assert refused.context["form"].errors["code"]
    assert two_factor.has_two_factor(boss.user)
    _wait_out_throttle(boss.user)

    key = TOTPDevice.objects.get(user=boss.user).bin_key
    done = client.post(ENROL, {"action": "disable", "code": f"{totp(key, drift=2):06d}"})

    assert done.status_code == 302
    assert not TOTPDevice.objects.filter(user=boss.user).exists()
    assert not StaticDevice.objects.filter(user=boss.user).exists()


def test_b4_two_factor_cannot_be_turned_off_when_the_merchant_requires_it(boss, merchant):
    services.update_merchant(merchant=merchant, require_two_factor_for_admins=True)
    codes = _enrol(boss.user)

    with pytest.raises(PermissionDenied) as refused:
        two_factor.disable_two_factor(user=boss.user, token=codes[0])

    assert refused.value.code == "two_factor_required"
    assert two_factor.has_two_factor(boss.user)


# --- reset by the merchant admin ------------------------------------------------------------------------


def test_b4_merchant_admin_resets_a_staff_members_two_factor_and_history_says_who(client, merchant, boss):
    lan = staff_user(merchant, "store_manager", username="lan")
    _enrol(lan.user)
    client.force_login(boss.user)
    page = reverse("admin:tenancy_staffmembership_reset_two_factor_page", args=[lan.pk])

    assert client.get(page).status_code == 200
    done = client.post(page)

    assert done.status_code == 302
    assert not TOTPDevice.objects.filter(user=lan.user).exists()
    assert not StaticDevice.objects.filter(user=lan.user).exists()
    last = StaffMembership.history.filter(id=lan.pk).latest("history_date")
    assert last.history_user == boss.user
    assert last.history_change_reason == "two-factor login reset"
    # Lan signs in with the password alone now.
    client.post(reverse("admin:logout"))
    _login(client, "lan")
    assert client.get("/admin/").status_code == 200


def test_b4_staff_list_shows_who_has_two_factor_and_resets_in_bulk(client, merchant, boss):
    lan = staff_user(merchant, "cashier", username="lan")
    _enrol(lan.user)
    client.force_login(boss.user)
    changelist = reverse("admin:tenancy_staffmembership_changelist")

    shown = {s.user.username: s.has_two_factor for s in client.get(changelist).context["cl"].result_list}
    assert shown == {"boss": False, "lan": True}
    client.post(changelist, {"action": "reset_two_factor", "_selected_action": [lan.pk]})

    assert not two_factor.has_two_factor(lan.user)


def test_b4_another_merchants_admin_cannot_reset(client, merchant, other_merchant):
    lan = staff_user(merchant, "cashier", username="lan")
    _enrol(lan.user)
    stranger = staff_user(other_merchant, "merchant_admin", username="stranger")
    client.force_login(stranger.user)

    page = reverse("admin:tenancy_staffmembership_reset_two_factor_page", args=[lan.pk])
    assert client.get(page).status_code == 404
    assert client.post(page).status_code == 404
    client.post(
        reverse("admin:tenancy_staffmembership_changelist"),
        {"action": "reset_two_factor", "_selected_action": [lan.pk]},
    )
    with pytest.raises(PermissionDenied) as refused:
        two_factor.reset_two_factor(staff=lan, actor=stranger.user)

    assert refused.value.code == "cross_merchant"
    assert two_factor.has_two_factor(lan.user)


def test_b4_staff_without_the_staff_permission_cannot_reset(merchant):
    lan = staff_user(merchant, "cashier", username="lan")
    _enrol(lan.user)
    manager = staff_user(merchant, "store_manager")

    with pytest.raises(PermissionDenied) as refused:
        two_factor.reset_two_factor(staff=lan, actor=manager.user)

    assert refused.value.code == "permission_denied"
    assert two_factor.has_two_factor(lan.user)


def test_b4_an_admin_turns_their_own_two_factor_off_on_their_own_page_not_by_reset(boss):
    _enrol(boss.user)

    with pytest.raises(ValidationFailed) as refused:
        two_factor.reset_two_factor(staff=boss, actor=boss.user)

    assert refused.value.code == "self_reset"


# --- required by the merchant ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role_key", "privileged"),
    [
        ("merchant_admin", True),
        ("store_manager", False),
        ("cashier", False),
        ("marketing", False),
        ("finance", False),
    ],
)
def test_b4_who_can_change_settings_roles_or_balances(merchant, role_key, privileged):
    user = staff_user(merchant, role_key).user

    assert two_factor.can_change_settings_roles_or_balances(user) is privileged


@pytest.mark.parametrize("permission", sorted(two_factor.PRIVILEGED_PERMISSIONS))
def test_b4_each_privileged_permission_alone_makes_a_user_privileged(merchant, permission):
    from django.contrib.auth.models import Permission

    app_label, codename = permission.split(".")
    granted = Permission.objects.get(content_type__app_label=app_label, codename=codename)
    custom = services.create_role(merchant=merchant, name=permission, permission_ids=[granted.pk])
    user = services.add_staff(merchant=merchant, username="one", password=None, roles=[custom]).user

    assert two_factor.can_change_settings_roles_or_balances(user)


def test_b4_a_merchant_admin_turns_the_requirement_on_in_the_merchant_settings(client, merchant, boss):
    client.force_login(boss.user)
    data = {name: getattr(merchant, name) for name in services.MERCHANT_SETTINGS if name != "logo"}
    data.update(auto_activate_members="on", require_two_factor_for_admins="on", _save="Save")

    response = client.post(reverse("admin:tenancy_merchant_change", args=[merchant.pk]), data)

    assert response.status_code == 302
    merchant.refresh_from_db()
    assert merchant.require_two_factor_for_admins
    # From the next page on, the admin (privileged) is sent to set it up.
    assert client.get("/admin/")["Location"].startswith(ENROL)


def test_b4_a_required_user_without_two_factor_is_sent_to_set_it_up_and_reaches_nothing_else(
    client, merchant, boss
):
    services.update_merchant(merchant=merchant, require_two_factor_for_admins=True)
    cashier = staff_user(merchant, "cashier", username="lan")

    _login(client, "boss")
    first = client.get("/admin/")
    assert first.status_code == 302 and first["Location"] == f"{ENROL}?next=%2Fadmin%2F"
    for path in (reverse("admin:members_member_changelist"), VERIFY, reverse("scanner:scan")):
        assert client.get(path)["Location"].startswith(ENROL), path
    page = client.get(first["Location"])
    assert page.status_code == 200 and page.context["required"] is True

    client.post(ENROL, {"action": "start"})
    device = TOTPDevice.objects.get(user=boss.user)
    client.post(ENROL, {"action": "confirm", "code": f"{totp(device.bin_key):06d}", "next": "/admin/"})

    assert client.get("/admin/").status_code == 200
    # A cashier can change no settings, roles or balances: the password is enough.
    client.post(reverse("admin:logout"))
    _login(client, cashier.user.username)
    assert client.get("/admin/", follow=True).status_code == 200


def test_b4_the_requirement_applies_to_a_custom_role_that_can_apply_adjustments(client, merchant):
    from django.contrib.auth.models import Permission

    services.update_merchant(merchant=merchant, require_two_factor_for_admins=True)
    apply = Permission.objects.get(codename="apply_adjustmentvoucher")
    custom = services.create_role(merchant=merchant, name="Auditor", permission_ids=[apply.pk])
    services.add_staff(merchant=merchant, username="an", password=PASSWORD, roles=[custom])

    _login(client, "an")

    assert client.get("/admin/")["Location"].startswith(ENROL)
