"""Back-office forms for staff, roles and API keys. Their choices are scoped to the user's merchant;
the services check the same rules again, so a forged POST fails twice."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Permission
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminEmailInputWidget,
    UnfoldAdminPasswordWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanSwitchWidget,
)

from tessera.tenancy.models import MERCHANT_WIDE_SCOPES, ApiKey, Merchant, Role, StaffMembership, Store
from tessera.tenancy.permissions import staff_of
from tessera.tenancy.selectors import ACTION_LABELS, MATRIX_ACTIONS, permission_matrix, roles_of_user
from tessera.tenancy.services import grantable_permissions


def _choices(form: forms.BaseForm, name: str) -> forms.ModelMultipleChoiceField:
    return cast(forms.ModelMultipleChoiceField, form.fields[name])


class ScopedForm(forms.ModelForm):
    """A model form that knows the request (set by the admin's `get_form`)."""

    request: HttpRequest

    @property
    def merchant(self) -> Merchant | None:
        """The merchant the row belongs to: the instance's, the operator's choice, or the staff's."""
        if self.instance.pk and getattr(self.instance, "merchant_id", None):
            return self.instance.merchant
        staff = staff_of(self.request.user)
        if staff is not None:
            return staff.merchant
        chosen = self.cleaned_data.get("merchant") if hasattr(self, "cleaned_data") else None
        return chosen if isinstance(chosen, Merchant) else None


class StaffForm(ScopedForm):
    username = forms.CharField(label=_("username"), max_length=150, widget=UnfoldAdminTextInputWidget)
    first_name = forms.CharField(label=_("first name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("email"), required=False, widget=UnfoldAdminEmailInputWidget)
    password1 = forms.CharField(
        label=_("password"), strip=False, required=False, widget=UnfoldAdminPasswordWidget
    )
    password2 = forms.CharField(
        label=_("password again"), strip=False, required=False, widget=UnfoldAdminPasswordWidget
    )
    is_active = forms.BooleanField(
        label=_("active"),
        required=False,
        initial=True,
        widget=UnfoldBooleanSwitchWidget,
        help_text=_("Deactivated staff cannot log in; their name stays on what they did."),
    )
    roles = forms.ModelMultipleChoiceField(
        label=_("roles"),
        queryset=Role.objects.none(),
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
    )

    class Meta:
        model = StaffMembership
        fields = ["merchant", "all_stores", "stores"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("first_name", "last_name"):
            self.fields[name].widget = UnfoldAdminTextInputWidget()
        user = self.request.user
        staff = staff_of(user)
        editing = self.instance.pk is not None
        if "stores" in self.fields:
            self.fields["stores"].widget = UnfoldAdminCheckboxSelectMultipleWidget()
            self.fields["stores"].help_text = _("Only these stores, unless “all stores” is on.")
            if staff is not None:
                _choices(self, "stores").queryset = Store.objects.visible_to(staff)
        if staff is not None:
            _choices(self, "roles").queryset = Role.objects.of(staff.merchant_id)
            if not staff.all_stores and "all_stores" in self.fields:
                # A store-scoped manager cannot hand out access wider than their own (B2).
                self.fields["all_stores"].disabled = True
        else:
            _choices(self, "roles").queryset = Role.objects.select_related("merchant")
        if editing:
            staff_user = self.instance.user
            self.fields["username"].disabled = True
            self.fields["password1"].label = _("new password")
            self.fields["password1"].help_text = _("Leave empty to keep the current password.")
            for name in ("username", "first_name", "last_name", "email", "is_active"):
                self.initial[name] = getattr(staff_user, name)
            self.initial["roles"] = list(roles_of_user(staff_user))
        else:
            self.fields["password1"].required = True
            self.fields["password2"].required = True

    def clean_username(self) -> str:
        username: str = self.cleaned_data["username"]
        if self.instance.pk is None and get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("A user with that username already exists."))
        return username

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        p1, p2 = data.get("password1"), data.get("password2")
        if (p1 or p2) and p1 != p2:
            self.add_error("password2", _("The two passwords differ."))
        elif p1:
            try:
                password_validation.validate_password(p1)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        if not data.get("all_stores") and not data.get("stores"):
            self.add_error("stores", _("Choose the stores, or give access to all stores."))
        merchant = self.merchant
        if merchant is not None:
            foreign = [r for r in data.get("roles") or [] if r.merchant_id != merchant.pk]
            foreign += [s for s in data.get("stores") or [] if s.merchant_id != merchant.pk]
            if foreign:
                self.add_error(None, _("Roles and stores must belong to the same merchant."))
        return data


class PermissionMatrixWidget(forms.CheckboxSelectMultiple):
    """Permissions as a table: one row per feature, a column per action (B1)."""

    template_name = "tenancy/widgets/permission_matrix.html"

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        selected = {str(v) for v in value or []}
        choices = [(v.instance, str(v)) for v, _label in self.choices if hasattr(v, "instance")]
        context["matrix"] = permission_matrix(choices, selected)
        context["actions"] = [ACTION_LABELS[a] for a in MATRIX_ACTIONS]
        return context


class RoleForm(ScopedForm):
    permissions = forms.ModelMultipleChoiceField(
        label=_("permissions"),
        queryset=Permission.objects.none(),
        required=False,
        widget=PermissionMatrixWidget,
    )

    class Meta:
        model = Role
        fields = ["merchant", "name"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(self, "permissions").queryset = grantable_permissions(self.request.user).order_by(
            "content_type__app_label", "content_type__model", "codename"
        )
        if self.instance.pk:
            self.initial["permissions"] = list(self.instance.group.permissions.values_list("pk", flat=True))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        merchant, name = self.merchant, data.get("name")
        if merchant is not None and name:
            clash = Role.objects.of(merchant).filter(name__iexact=name).exclude(pk=self.instance.pk)
            if clash.exists():
                self.add_error("name", _("This merchant already has a role with this name."))
        return data


class ApiKeyForm(ScopedForm):
    class Meta:
        model = ApiKey
        fields = ["merchant", "name", "scope", "store"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        staff = staff_of(self.request.user)
        if staff is not None and not staff.all_stores and "store" in self.fields:
            # A store-scoped user issues keys for their stores only, never merchant-wide ones (B2).
            self.fields["store"].required = True

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        merchant, store = self.merchant, data.get("store")
        if merchant is not None and store is not None and store.merchant_id != merchant.pk:
            self.add_error("store", _("The store belongs to another merchant."))
        if store is not None and data.get("scope") in MERCHANT_WIDE_SCOPES:
            self.add_error(
                "store", _("An administration key acts for the whole merchant: leave the store empty.")
            )
        return data


class StoreForm(forms.ModelForm):
    """A store's fields, as the back office's page and the management API (`tessera.tenancy.stores_api`)
    validate them."""

    class Meta:
        model = Store
        fields = ("code", "name", "address", "time_zone", "is_active")
