"""Back office for earning rules (E5): the rules, their version history, and the simulator page.

Saving goes through `services.save_rule`, which writes a new version; a formula that cannot be used is
refused on the form with the reason. Rules are never deleted (sales point at their versions): switch
them off instead. Another merchant's rule is a 404 (TenantAdmin).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import yesno
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminSelectMultipleWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminSingleDateWidget,
    UnfoldAdminSingleTimeWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from tessera.cards.models import CardType
from tessera.core.errors import DomainError
from tessera.core.forms import LabelsField, TextListField
from tessera.core.money import AmountError, MoneyField, parse_money
from tessera.members.selectors import find_member_by_phone
from tessera.rules import lines, selectors, services
from tessera.rules.formula import FUNCTIONS, VARIABLES
from tessera.rules.models import EarningRule, EarningRuleVersion, Effect, ProductPer, Weekday
from tessera.rules.purchase import PurchaseView, simulate_purchase
from tessera.rules.simulator import BasketItem, RuleSpec, Simulation, stacking_with
from tessera.tenancy.admin_base import ReadOnlyAdminMixin, ReadOnlyInline, TenantAdmin, request_staff
from tessera.tenancy.models import StaffMembership, Store


def _formula_help() -> SafeString:
    names = format_html_join(
        ", ", "<code>{}</code> ({})", ((name, meaning) for name, meaning in VARIABLES.items())
    )
    return format_html(
        "{} {}. {} {}.",
        _("Names:"),
        names,
        _("Functions:"),
        ", ".join(FUNCTIONS),
    )


class EarningRuleForm(forms.ModelForm):
    stores = forms.ModelMultipleChoiceField(
        queryset=Store.objects.none(),
        required=False,
        label=_("stores"),
        help_text=_("None chosen: every store."),
        widget=UnfoldAdminSelectMultipleWidget,
    )
    card_types = forms.ModelMultipleChoiceField(
        queryset=CardType.objects.none(),
        required=False,
        label=_("card types"),
        help_text=_("None chosen: any card, or none."),
        widget=UnfoldAdminSelectMultipleWidget,
    )
    tiers = forms.CharField(
        required=False,
        label=_("tiers"),
        help_text=_("Tier codes separated by commas; empty: any tier, or none."),
        widget=UnfoldAdminTextInputWidget,
    )
    days = forms.TypedMultipleChoiceField(
        choices=Weekday.choices,
        coerce=int,
        required=False,
        label=_("days of the week"),
        help_text=_("None chosen: every day. In the store's time zone."),
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
    )

    # Which lines the rule counts (issue 15 §4).
    include_skus = TextListField(label=_("only SKUs"), help_text=_("Separated by commas; empty: any."))
    include_categories = TextListField(
        label=_("only categories"), help_text=_("Separated by commas; empty: any.")
    )
    include_labels = TextListField(
        label=_("only labels"), help_text=_("key:value, separated by commas; empty: any.")
    )
    exclude_skus = TextListField(label=_("except SKUs"), help_text=_("Separated by commas."))
    exclude_categories = TextListField(label=_("except categories"), help_text=_("Separated by commas."))
    exclude_labels = TextListField(label=_("except labels"), help_text=_("key:value, separated by commas."))
    multipliers = forms.CharField(
        required=False,
        label=_("multipliers per product"),
        help_text=_(
            "One per line: sku:CODE = 2, category:NAME = 1.5 or label:key:value = 3. A line takes the "
            "largest factor that matches it."
        ),
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 4}),
    )

    #: Set by the admin: the staff member editing (None for a platform operator).
    staff: StaffMembership | None = None
    #: Set by the management API (`tessera.rules.api`): the merchant whose rule it is, without staff.
    merchant_id: int | None = None

    class Meta:
        model = EarningRule
        fields = (
            "merchant",
            "name",
            "priority",
            "is_active",
            "combine",
            "valid_from",
            "valid_until",
            "hour_from",
            "hour_until",
            "birthday_window",
            "min_total",
            "min_top_ups",
            "max_top_ups",
            "effect",
            "points",
            "per_amount",
            "rounding",
            "multiplier",
            "bonus_points",
            "formula",
            "include_skus",
            "include_categories",
            "include_labels",
            "exclude_skus",
            "exclude_categories",
            "exclude_labels",
            "min_quantity",
            "product_per",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        staff = self.staff
        merchant_id = staff.merchant_id if staff is not None else self.merchant_id
        stores: QuerySet[Store]
        if staff is not None:
            stores = Store.objects.visible_to(staff)
        else:
            stores = Store.objects.of(merchant_id) if merchant_id else Store.objects.all()
        card_types = CardType.objects.of(merchant_id) if merchant_id else CardType.objects.all()
        self.fields["stores"].queryset = stores  # type: ignore[attr-defined]
        self.fields["card_types"].queryset = card_types  # type: ignore[attr-defined]
        self.fields["product_per"].required = False  # only product rules show it: per unit unless chosen
        if "formula" in self.fields:
            self.fields["formula"].help_text = _formula_help()
        if staff is not None:
            zone = _("In the merchant's time zone (%(zone)s).") % {"zone": staff.merchant.tz}
            for name in ("valid_from", "valid_until"):
                if name in self.fields:
                    field = self.fields[name]
                    field.help_text = format_html("{} {}", field.help_text, zone) if field.help_text else zone
        rule = self.instance
        if rule.pk is not None:
            self.initial.update(
                stores=list(rule.store_ids),
                card_types=list(rule.card_type_ids),
                tiers=", ".join(rule.tier_codes),
                days=list(rule.weekdays),
                multipliers="\n".join(str(lines.multiplier_of(item)) for item in rule.line_multipliers or []),
            )

    def clean_product_per(self) -> str:
        return self.cleaned_data.get("product_per") or ProductPer.UNIT

    def clean_multipliers(self) -> list[dict[str, str]]:
        try:
            return lines.parse_multipliers(self.cleaned_data.get("multipliers") or "")
        except lines.MultiplierError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        rule = self.instance
        if rule.merchant_id is None and self.staff is not None:
            rule.merchant_id = self.staff.merchant_id
        rule.store_ids = sorted(store.pk for store in data.get("stores") or [])
        rule.card_type_ids = sorted(card_type.pk for card_type in data.get("card_types") or [])
        rule.tier_codes = sorted(
            {code.strip() for code in (data.get("tiers") or "").split(",") if code.strip()}
        )
        rule.weekdays = sorted(data.get("days") or [])
        rule.line_multipliers = data.get("multipliers") or []
        return data

    def _update_errors(self, errors: Any) -> None:
        # The model names the stored list; the form shows it as the `multipliers` text.
        if hasattr(errors, "error_dict") and "line_multipliers" in errors.error_dict:
            errors.error_dict["multipliers"] = errors.error_dict.pop("line_multipliers")
        super()._update_errors(errors)  # type: ignore[misc]

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]
        if not self.errors and self.instance.merchant_id is not None:
            try:
                services.check_rule(self.instance)
            except DomainError as exc:
                field = exc.detail.get("field")
                self.add_error(field if field in self.fields else None, str(exc))


class VersionInline(ReadOnlyInline):
    model = EarningRuleVersion
    parent_view_permission = "rules.view_earningrule"
    fields = ("number", "created_at", "created_by", "api_key", "summary")
    show_change_link = True
    verbose_name_plural = _("version history")

    @admin.display(description=_("rule as saved"))
    def summary(self, obj: EarningRuleVersion) -> SafeString:
        return _snapshot_html(obj.snapshot)


def _snapshot_html(snapshot: dict[str, Any]) -> SafeString:
    """The rule as saved, in the reader's words: field names and choices as the form shows them."""
    shown = (_snapshot_item(key, value) for key, value in snapshot.items() if value not in (None, "", []))
    return format_html_join(" · ", "{}: <strong>{}</strong>", shown)


def _snapshot_item(key: str, value: Any) -> tuple[str, Any]:
    try:
        field = EarningRule._meta.get_field(key)
    except FieldDoesNotExist:
        return key, value
    if not isinstance(field, models.Field):
        return key, value
    if key == "line_multipliers":
        return capfirst(str(field.verbose_name)), ", ".join(str(lines.multiplier_of(m)) for m in value)
    if field.choices:
        labels = dict(field.flatchoices)
        value = (
            ", ".join(str(labels.get(v, v)) for v in value)
            if isinstance(value, list)
            else labels.get(value, value)
        )
    elif isinstance(value, bool):
        value = yesno(value)
    elif isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return capfirst(str(getattr(field, "verbose_name", key))), value


@admin.register(EarningRule)
class EarningRuleAdmin(TenantAdmin):
    form = EarningRuleForm
    list_display = (
        "name",
        "priority",
        "effect",
        "combine",
        "is_active",
        "valid_from",
        "valid_until",
        "version",
    )
    list_filter = ("is_active", "effect", "combine")
    search_fields = ("name",)
    ordering = ("priority", "pk")
    inlines = (VersionInline,)
    actions_list = ("simulator",)
    fieldsets = (
        (None, {"fields": ("name", "priority", "is_active", "combine")}),
        (
            _("When it applies"),
            {
                "fields": (
                    # One per line: two date-and-time pairs side by side overflow the page (issue 14).
                    "valid_from",
                    "valid_until",
                    "stores",
                    "card_types",
                    "tiers",
                    "days",
                    ("hour_from", "hour_until"),
                    "birthday_window",
                    "min_total",
                    ("min_top_ups", "max_top_ups"),
                )
            },
        ),
        (
            _("Which lines it counts"),
            {
                "fields": (
                    ("include_skus", "exclude_skus"),
                    ("include_categories", "exclude_categories"),
                    ("include_labels", "exclude_labels"),
                    "min_quantity",
                ),
                "description": _(
                    "A line counts when it matches one of the 'only' lists (when any is filled) and none "
                    "of the 'except' lists. Lines with the points policy's SKUs that earn no points never "
                    "count."
                ),
            },
        ),
        (
            _("What it gives"),
            {
                "fields": (
                    "effect",
                    "points",
                    "per_amount",
                    "multiplier",
                    "rounding",
                    "bonus_points",
                    "product_per",
                    "multipliers",
                    "formula",
                )
            },
        ),
    )
    # One clear form per effect kind: only the effect's own parameters are shown.
    conditional_fields = {
        "points": f"effect == '{Effect.PER_AMOUNT}'",
        "per_amount": f"effect == '{Effect.PER_AMOUNT}'",
        "rounding": f"effect == '{Effect.PER_AMOUNT}' || effect == '{Effect.MULTIPLIER}' "
        f"|| effect == '{Effect.LINE_MULTIPLIER}'",
        "multiplier": f"effect == '{Effect.MULTIPLIER}'",
        "bonus_points": f"effect == '{Effect.FIXED}' || effect == '{Effect.PRODUCT}'",
        "product_per": f"effect == '{Effect.PRODUCT}'",
        "multipliers": f"effect == '{Effect.LINE_MULTIPLIER}'",
        "formula": f"effect == '{Effect.FORMULA}'",
    }

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))
        if self.is_operator(request):
            fieldsets.insert(0, (_("Merchant"), {"fields": ("merchant",)}))
        return fieldsets

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"staff": request_staff(request)})

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("version"))
    def version(self, obj: EarningRule) -> int | None:
        return obj.current_version.number if obj.current_version else None

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("current_version")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # The form ran the service's checks already (EarningRuleForm._post_clean).
        services.save_rule(rule=obj, actor=request.user)
        if obj.is_active and obj.current_version is not None:
            in_force = [RuleSpec.of(version) for version in selectors.current_versions(obj.merchant_id)]
            # Saved all the same: stacking may be meant, but it should never be a surprise.
            for warning in stacking_with(RuleSpec.of(obj.current_version), in_force):
                messages.warning(request, str(warning))

    # -- the simulator page, a button on the rules list
    @action(description=_("Simulator"), url_path="simulator", permissions=["view"])
    def simulator(self, request: HttpRequest) -> HttpResponse:
        staff = request_staff(request)
        if staff is None or not request.user.has_perm("rules.view_earningrule"):
            raise PermissionDenied
        form = SimulatorForm(request.POST or None, staff=staff)
        result: Simulation | None = None
        purchase: PurchaseView | None = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            store: Store = data["store"]
            at = timezone.now()
            if data.get("date"):
                local = datetime.combine(data["date"], data.get("time") or at.astimezone(store.tz).time())
                at = local.replace(tzinfo=store.tz)
            basket = data.get("lines") or None
            try:
                simulated = simulate_purchase(
                    merchant=staff.merchant,
                    amount=data.get("amount"),
                    lines=basket,
                    member=data["member"],
                    store=store,
                    at=at,
                )
                result, purchase = simulated.points, simulated.purchase
            except DomainError as exc:
                form.add_error(None, str(exc))
            except OverflowError:
                form.add_error("date", _("This date cannot be used."))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Earning simulator"),
            "form": form,
            "result": result,
            "purchase": purchase,
            "opts": self.model._meta,
            "back_url": reverse("admin:rules_earningrule_changelist"),
            "currency": staff.merchant.currency,
        }
        return TemplateResponse(request, "rules/admin/simulator.html", context)


class SimulatorForm(forms.Form):
    phone = forms.CharField(label=_("member's phone"), max_length=40, widget=UnfoldAdminTextInputWidget)
    store = forms.ModelChoiceField(
        queryset=Store.objects.none(), label=_("store"), widget=UnfoldAdminSelectWidget
    )
    date = forms.DateField(label=_("date"), required=False, widget=UnfoldAdminSingleDateWidget)
    time = forms.TimeField(
        label=_("time"),
        required=False,
        help_text=_("In the store's time zone."),
        widget=UnfoldAdminSingleTimeWidget,
    )

    def __init__(self, *args: Any, staff: StaffMembership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.staff = staff
        self.fields["store"].queryset = Store.objects.visible_to(staff).filter(is_active=True)  # type: ignore[attr-defined]
        # Typed as people write money ("150.000" đồng), read by core.money.parse_money (issue 14).
        self.fields["amount"] = MoneyField(
            currency=staff.merchant.currency,
            required=False,
            label=_("amount"),
            help_text=_("What earns points; empty: the lines' total less the discounts, as the quote earns."),
            widget=UnfoldAdminTextInputWidget(),
        )
        self.fields["lines"] = forms.CharField(
            required=False,
            label=_("lines"),
            help_text=_(
                "Optional, one per line: SKU; quantity; line amount; category; labels (key:value, "
                "separated by commas). The points of each line are shown."
            ),
            widget=UnfoldAdminTextareaWidget(
                attrs={"rows": 4, "placeholder": "SKU-1; 2; 130000; hair; brand:loreal"}
            ),
        )
        self.order_fields(["amount", "lines"])

    def clean_lines(self) -> list[BasketItem]:
        basket = []
        for number, row in enumerate((self.cleaned_data.get("lines") or "").splitlines(), start=1):
            if not row.strip():
                continue
            cells = [cell.strip() for cell in row.split(";")] + [""] * 5
            try:
                quantity = int(cells[1] or 1)
                amount = parse_money(cells[2], self.staff.merchant.currency)
                labels = LabelsField().clean(cells[4])
            except (ValueError, AmountError, forms.ValidationError):
                raise forms.ValidationError(
                    _("Line %(number)s: write SKU; quantity; line amount; category; labels.")
                    % {"number": number}
                ) from None
            if quantity < 1:
                raise forms.ValidationError(
                    _("Line %(number)s: write SKU; quantity; line amount; category; labels.")
                    % {"number": number}
                )
            basket.append(
                BasketItem(
                    quantity=quantity, line_amount=amount, sku=cells[0], category=cells[3], labels=labels
                )
            )
        return basket

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("amount") is None and not data.get("lines") and not self.errors:
            self.add_error("amount", _("Give an amount or lines."))
        return data

    def clean_phone(self) -> Any:
        member = find_member_by_phone(merchant=self.staff.merchant, phone=self.cleaned_data["phone"])
        if member is None:
            raise forms.ValidationError(_("No member with this phone."))
        self.cleaned_data["member"] = member
        return self.cleaned_data["phone"]


@admin.register(EarningRuleVersion)
class EarningRuleVersionAdmin(ReadOnlyAdminMixin, TenantAdmin):
    list_display = ("rule", "number", "created_at", "created_by", "api_key")
    # Only this merchant's rules: the plain related filter would list every merchant's.
    list_filter = (("rule", RelatedOnlyFieldListFilter),)
    list_select_related = ("rule", "created_by", "api_key")
    fields = ("rule", "number", "created_at", "created_by", "api_key", "rule_as_saved")
    readonly_fields = fields
    ordering = ("rule", "-number")

    @admin.display(description=_("rule as saved"))
    def rule_as_saved(self, obj: EarningRuleVersion) -> SafeString:
        return _snapshot_html(obj.snapshot)
