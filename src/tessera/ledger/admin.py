"""The ledger in the back office: read-only. Entries are append-only, so nobody adds, changes or
deletes anything here; corrections go through the adjustment and sale screens, which call services."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.decorators import display

from tessera.core.exports import Column
from tessera.core.limits import parse_id
from tessera.ledger.models import Account, AccountKind, Entry, EntryKind, Lot
from tessera.ledger.reasons import describe
from tessera.ledger.selectors import spend_order, with_live_balances
from tessera.tenancy.admin_base import ExportAdminMixin, LocalDateRangeFilter, TenantAdmin, request_staff
from tessera.tenancy.models import Store


class ReadOnlyAdmin(TenantAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OpenLotInline(TabularInline):
    model = Lot
    fk_name = "account"
    verbose_name_plural = _("open lots, in the order they are spent")
    fields = ["remaining", "amount", "earned_at", "available_at", "released", "expires_at"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Lot]:
        return spend_order(super().get_queryset(request).filter(remaining__gt=0))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "member", "kind", "balance", "pending", "held", "spendable_units", "entries"]
    list_filter = ["kind"]
    list_select_related = ["member"]
    search_fields = ["member__full_name", "member__phone"]
    fields = ["member", "kind", "balance", "pending", "held", "spendable_units", "entries", "created_at"]
    readonly_fields = fields
    inlines = [OpenLotInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        # `balance` and `pending` are the ledger's own record; "spendable" is as of now (expired lots out).
        return with_live_balances(super().get_queryset(request))

    @display(description=_("spendable"))
    def spendable_units(self, obj: Account) -> int:
        return obj.spendable

    @display(description=_("entries"))
    def entries(self, obj: Account) -> SafeString:
        url = reverse("admin:ledger_entry_changelist") + f"?account__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("Show entries"))


class StoreFilter(admin.SimpleListFilter):
    """Only the stores the staff user may see: the stock related filter would list every merchant's."""

    title = _("store")
    parameter_name = "store"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        stores = (
            Store.objects.all()
            if request.user.is_superuser
            else Store.objects.visible_to(request_staff(request))
        )
        return [(str(store.pk), str(store)) for store in stores.order_by("name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if store_id := parse_id(self.value()):
            return queryset.filter(store_id=store_id)
        return queryset


@admin.register(Entry)
class EntryAdmin(ExportAdminMixin, ReadOnlyAdmin):
    list_display = [
        "occurred_at",
        "account",
        "member",
        "kind",
        "amount",
        "balance_after",
        "store",
        "source",
        "description",
        "created_by",
    ]
    list_filter = ["kind", StoreFilter, ("occurred_at", LocalDateRangeFilter)]
    list_filter_submit = True
    list_select_related = ["account", "account__member", "store", "created_by"]
    search_fields = ["source", "account__member__phone", "account__member__full_name"]
    fields = [
        "occurred_at",
        "account",
        "kind",
        "amount",
        "balance_after",
        "sale_amount",
        "store",
        "source",
        "description",
        "reverses",
        "created_by",
        "created_at",
    ]
    readonly_fields = fields

    @display(description=_("member"))
    def member(self, obj: Entry) -> Any:
        return obj.account.member

    @display(description=_("reason"))
    def description(self, obj: Entry) -> str:
        return obj.description

    # Export (J6): the filtered entries; points in points, stored value in money.
    export_permission = "ledger.export_entry"

    def export_columns(self, request: HttpRequest) -> list[Column]:
        return [
            Column(str(_("occurred at")), "datetime"),
            Column(str(_("account")), "int"),
            Column(str(_("kind"))),
            Column(str(_("member phone"))),
            Column(str(_("member"))),
            Column(str(_("movement"))),
            Column(str(_("points")), "points"),
            Column(str(_("points balance after")), "points"),
            Column(str(_("stored value")), "money"),
            Column(str(_("stored value balance after")), "money"),
            Column(str(_("amount spent")), "money"),
            Column(str(_("store"))),
            Column(str(_("source"))),
            Column(str(_("reason"))),
        ]

    def export_rows(self, request: HttpRequest, queryset: QuerySet[Entry]) -> Iterator[list[Any]]:
        kinds = {value: str(label) for value, label in AccountKind.choices}
        movements = {value: str(label) for value, label in EntryKind.choices}
        values = queryset.values_list(
            "occurred_at",
            "account_id",
            "account__kind",
            "account__member__phone",
            "account__member__full_name",
            "kind",
            "amount",
            "balance_after",
            "sale_amount",
            "store__name",
            "source",
            "reason_code",
            "reason_args",
            "reason",
        )
        for (
            at,
            account,
            kind,
            phone,
            name,
            movement,
            amount,
            after,
            spent,
            store,
            source,
            *why,
        ) in values.iterator(chunk_size=2000):
            points = kind == AccountKind.POINTS
            yield [
                at,
                account,
                kinds.get(kind, kind),
                str(phone or ""),
                name,
                movements.get(movement, movement),
                amount if points else None,
                after if points else None,
                None if points else amount,
                None if points else after,
                spent,
                store,
                source,
                describe(*why),
            ]
