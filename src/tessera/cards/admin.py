"""Back office for cards (D1–D6): types, batches with printing, cards with their issuance and lifecycle.

Every page looks a card or batch up through the scoped queryset of `TenantAdmin`, so another
merchant's (or, for store-scoped staff, another store's) card is a 404. Cards with no store are
merchant-wide and visible to all the merchant's staff (see `CardQuerySet.visible_to`). Step pages
are offered only to users with the step's permission and only when the card is in the right status;
the services check both again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from unfold.decorators import action

from tessera.cards import rendering, selectors, services
from tessera.cards.forms import (
    AssignForm,
    CardTypeForm,
    GenerateBatchForm,
    InitialiseBatchForm,
    NoteForm,
    PhoneForm,
    ReplaceForm,
    SellForm,
)
from tessera.cards.models import STOCK_STATUSES, Card, CardBatch, CardStatus, CardType
from tessera.cards.numbering import clean_number
from tessera.core.errors import DomainError, PermissionDenied
from tessera.core.formatting import format_money
from tessera.core.limits import parse_id
from tessera.tenancy.admin_base import TenantAdmin, TenantHistoryAdmin, request_staff
from tessera.tenancy.models import Store


def _can(request: HttpRequest, perm: str) -> bool:
    return bool(request.user.has_perm(f"cards.{perm}"))


def _merchant_id(request: HttpRequest, obj: Any = None) -> int:
    staff = request_staff(request)
    if obj is not None:
        return int(obj.merchant_id)
    if staff is None:
        raise Http404
    return staff.merchant_id


def _step_page(
    request: HttpRequest,
    *,
    form: forms.Form,
    title: str,
    subject: Any,
    back_url: str,
    submit_label: str,
    run: Callable[[forms.Form], str],
    explanation: str = "",
) -> HttpResponse:
    """GET shows the form; a valid POST runs the service and goes back with its message."""
    if request.method == "POST" and form.is_valid():
        try:
            message = run(form)
        except DomainError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, message)
            return HttpResponseRedirect(back_url)
    context = {
        **admin.site.each_context(request),
        "title": title,
        "subject": subject,
        "subject_status": getattr(subject, "get_status_display", lambda: "")(),
        "form": form,
        "back_url": back_url,
        "submit_label": submit_label,
        "explanation": explanation,
    }
    return render(request, "cards/admin/step_form.html", context)


@admin.register(CardType)
class CardTypeAdmin(TenantHistoryAdmin):
    form = CardTypeForm
    list_display = [
        "name",
        "kind",
        "discount_percent",
        "level",
        "number_prefix",
        "requires_sale",
        "is_active",
    ]
    list_filter = ["merchant", "kind", "is_active"]
    search_fields = ["name"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        staff = request_staff(request)
        if (
            obj is None and staff is not None
        ):  # a new type is the staff's merchant's: its name is checked there
            return type(form.__name__, (form,), {"merchant_id": staff.merchant_id})
        return form


#: Card numbers listed on a batch's page; the card list filtered to the batch and the CSV have them all.
BATCH_PAGE_CARDS = 500


@admin.register(CardBatch)
class CardBatchAdmin(TenantAdmin):
    list_display = [
        "number",
        "type",
        "quantity",
        "first_number",
        "last_number",
        "initialised_at",
        "created_at",
    ]
    list_filter = ["merchant", ("type", RelatedOnlyFieldListFilter)]
    readonly_fields = [
        "number",
        "type",
        "quantity",
        "prefix",
        "first_number",
        "last_number",
        "note",
        "initialised_at",
    ]
    actions = ["download_pdf", "download_csv"]
    actions_list = ["generate"]
    actions_detail = ["initialise", "assign", "sheet", "csv"]
    change_form_after_template = "cards/admin/batch_parts.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # batches are made by "generate", never typed in

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # its numbers are drawn for good and may be printed on cards already (D3)

    def _batch(self, request: HttpRequest, object_id: Any) -> CardBatch:
        batch = self.get_queryset(request).filter(pk=object_id).first()
        if batch is None:
            raise Http404
        return batch

    def _url(self, batch: CardBatch) -> str:
        return reverse("admin:cards_cardbatch_change", args=[batch.pk])

    # -- permissions of the buttons
    def has_generate_permission(self, request: HttpRequest) -> bool:
        return _can(request, "add_cardbatch") and request_staff(request) is not None

    def has_initialise_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return _can(request, "initialise_card") and (
            object_id is None
            or Card.objects.filter(
                batch_id=object_id, status=CardStatus.GENERATED, recycled_at__isnull=True
            ).exists()
        )

    def has_assign_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return _can(request, "assign_card") and (
            object_id is None
            or Card.objects.filter(
                batch_id=object_id, status=CardStatus.INITIALISED, recycled_at__isnull=True
            ).exists()
        )

    def has_export_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return _can(request, "export_card")

    # -- pages
    @action(description=gettext_lazy("Generate cards"), permissions=["generate"], icon="add_card")
    def generate(self, request: HttpRequest) -> HttpResponse:
        merchant_id = _merchant_id(request)
        form = GenerateBatchForm(request.POST or None, merchant_id=merchant_id)

        def run(form: forms.Form) -> str:
            data = form.cleaned_data
            batch = services.generate_batch(
                merchant=data["card_type"].merchant,
                card_type=data["card_type"],
                quantity=data["quantity"],
                prefix=data["number_prefix"] or None,
                note=data["note"],
                actor=request.user,
            )
            return _("%(count)s cards generated, %(first)s to %(last)s.") % {
                "count": batch.quantity,
                "first": batch.first_number,
                "last": batch.last_number,
            }

        return _step_page(
            request,
            form=form,
            title=_("Generate cards"),
            subject=_("Card batches"),
            back_url=reverse("admin:cards_cardbatch_changelist"),
            submit_label=_("Generate"),
            run=run,
        )

    @action(description=gettext_lazy("Initialise"), permissions=["initialise"], icon="task_alt")
    def initialise(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        batch = self._batch(request, object_id)
        form = InitialiseBatchForm(
            request.POST or None, merchant_id=batch.merchant_id, initial={"card_type": batch.type}
        )

        def run(form: forms.Form) -> str:
            count = services.initialise_batch(
                batch=batch, card_type=form.cleaned_data["card_type"], actor=request.user
            )
            return _("%(count)s cards initialised.") % {"count": count}

        return _step_page(
            request,
            form=form,
            title=_("Initialise the batch"),
            subject=batch,
            back_url=self._url(batch),
            submit_label=_("Initialise"),
            run=run,
            explanation=_(
                "Fixes the type of every generated card of the batch. Another person hands them to a store."
            ),
        )

    @action(description=gettext_lazy("Assign to a store"), permissions=["assign"], icon="store")
    def assign(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        batch = self._batch(request, object_id)
        form = AssignForm(request.POST or None, merchant_id=batch.merchant_id, staff=request_staff(request))

        def run(form: forms.Form) -> str:
            assert isinstance(form, AssignForm)
            store: Store = form.cleaned_data["store"]
            count = services.assign_to_store(
                batch=batch, store=store, actor=request.user, numbers=form.number_list()
            )
            return _("%(count)s cards assigned to %(store)s.") % {"count": count, "store": store}

        return _step_page(
            request,
            form=form,
            title=_("Assign cards to a store"),
            subject=batch,
            back_url=self._url(batch),
            submit_label=_("Assign"),
            run=run,
        )

    def _pdf(self, request: HttpRequest, batches: QuerySet[CardBatch], name: str) -> HttpResponse:
        if not _can(request, "export_card"):
            raise Http404
        part = parse_id(request.GET.get("part")) or 1
        size = rendering.SHEET_PART_SIZE
        cards = list(selectors.batch_cards(batches)[(part - 1) * size : part * size])
        if not cards:
            raise Http404
        merchant = batches[0].merchant
        pdf = rendering.card_sheet_pdf(cards, merchant_name=merchant.name)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{name}-part{part}.pdf"'
        return response

    def _csv(self, request: HttpRequest, batches: QuerySet[CardBatch], name: str) -> HttpResponseBase:
        if not _can(request, "export_card"):
            raise Http404
        cards = selectors.batch_cards(batches).iterator(chunk_size=2000)
        response = StreamingHttpResponse(rendering.cards_csv(cards), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response

    @action(description=gettext_lazy("PDF sheet"), permissions=["export"], icon="print", url_path="sheet")
    def sheet(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        batch = self._batch(request, object_id)
        return self._pdf(
            request, self.get_queryset(request).filter(pk=batch.pk), f"cards-batch-{batch.number}"
        )

    @action(description=gettext_lazy("CSV"), permissions=["export"], icon="download", url_path="csv")
    def csv(self, request: HttpRequest, object_id: Any) -> HttpResponseBase:
        batch = self._batch(request, object_id)
        return self._csv(
            request, self.get_queryset(request).filter(pk=batch.pk), f"cards-batch-{batch.number}"
        )

    @admin.action(description=gettext_lazy("Download PDF sheet"), permissions=["export"])
    def download_pdf(self, request: HttpRequest, queryset: QuerySet[CardBatch]) -> HttpResponse:
        return self._pdf(request, queryset, "cards")

    @admin.action(description=gettext_lazy("Download CSV"), permissions=["export"])
    def download_csv(self, request: HttpRequest, queryset: QuerySet[CardBatch]) -> HttpResponseBase:
        return self._csv(request, queryset, "cards")

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        batch = self._batch(request, object_id)
        parts = range(1, (batch.quantity + rendering.SHEET_PART_SIZE - 1) // rendering.SHEET_PART_SIZE + 1)
        listed = list(
            Card.objects.filter(batch=batch)
            .order_by("number")
            .values_list("number", "status")[:BATCH_PAGE_CARDS]
        )
        extra = {
            **(extra_context or {}),
            "sheet_parts": parts if len(parts) > 1 else [],
            "batch_cards": [(number, CardStatus(status).label) for number, status in listed],
            "batch_cards_more": batch.quantity - len(listed),
            "batch_cards_url": reverse("admin:cards_card_changelist") + f"?batch__id__exact={batch.pk}",
        }
        return super().change_view(request, object_id, form_url, extra)


class CardForm(forms.ModelForm):
    class Meta:
        model = Card
        fields: list[str] = []


@admin.register(Card)
class CardAdmin(TenantHistoryAdmin):
    list_display = ["number", "type", "status", "member", "store", "batch", "activated_at"]
    list_filter = [
        "merchant",
        "status",
        ("type", RelatedOnlyFieldListFilter),
        ("store", RelatedOnlyFieldListFilter),
        ("batch", RelatedOnlyFieldListFilter),
    ]
    search_fields = ["number"]
    list_select_related = ["type", "member", "store", "batch"]
    form = CardForm
    readonly_fields = [
        "number",
        "type",
        "status",
        "member",
        "account",
        "parent",
        "batch",
        "store",
        "replaced_by",
        "payment_method",
        "invoice_number",
        "amount_display",
        "sold_at",
        "activated_at",
        "lost_at",
        "blocked_at",
        "recycled_at",
    ]
    change_form_after_template = "cards/admin/card_media.html"
    actions_detail = [
        "sell",
        "confirm",
        "activate",
        "report_lost",
        "cancel_loss",
        "replace",
        "recycle",
        "sub_card",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # cards come from batches, replacements and sub-cards

    @admin.display(description=gettext_lazy("amount paid"))
    def amount_display(self, obj: Card) -> str:
        return format_money(obj.amount, obj.merchant.currency) if obj.amount is not None else "—"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a card's history is kept; recycle it instead

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """Number as typed or scanned (spaces, dashes, QR payload), or the member's phone as staff type it."""
        term = search_term.strip()
        if not term:
            return queryset, False
        from tessera.cards.selectors import number_from_code
        from tessera.members.services import normalise_phone

        query = Q(number__contains=number_from_code(term))
        staff = request_staff(request)
        if staff is not None:
            with contextlib.suppress(DomainError):  # not a phone: search by number only
                query |= Q(member__phone=normalise_phone(term, merchant=staff.merchant))
        return queryset.filter(query), False

    def get_urls(self) -> list[Any]:
        media = [
            path(
                "<path:object_id>/barcode.<str:fmt>",
                self.admin_site.admin_view(self.barcode_view),
                name="cards_card_barcode",
            ),
            path(
                "<path:object_id>/qr.<str:fmt>",
                self.admin_site.admin_view(self.qr_view),
                name="cards_card_qr",
            ),
        ]
        return media + super().get_urls()

    def _card(self, request: HttpRequest, object_id: Any) -> Card:
        card = (
            self.get_queryset(request).filter(pk=object_id).select_related("type", "store", "member").first()
        )
        if card is None:
            raise Http404
        return card

    def _media(
        self, request: HttpRequest, object_id: str, fmt: str, draw: Callable[..., bytes]
    ) -> HttpResponse:
        if fmt not in rendering.CONTENT_TYPES or not self.has_view_permission(request):
            raise Http404
        card = self._card(request, object_id)
        response = HttpResponse(draw(card, fmt), content_type=rendering.CONTENT_TYPES[fmt])
        response["Cache-Control"] = "private, max-age=3600"
        return response

    def barcode_view(self, request: HttpRequest, object_id: str, fmt: str) -> HttpResponse:
        return self._media(request, object_id, fmt, rendering.barcode_image)

    def qr_view(self, request: HttpRequest, object_id: str, fmt: str) -> HttpResponse:
        return self._media(request, object_id, fmt, rendering.qr_image)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        card = self._card(request, object_id)
        events = card.events.select_related("actor", "store").order_by("-at", "-pk")[:200]
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "card_events": events}
        )

    # -- which step buttons a user sees
    def _offered(self, request: HttpRequest, object_id: Any, perm: str, statuses: tuple[str, ...]) -> bool:
        if not _can(request, perm):
            return False
        if object_id is None:
            return True
        return self.get_queryset(request).filter(pk=object_id, status__in=statuses).exists()

    def has_sell_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._offered(request, object_id, "sell_card", (CardStatus.ASSIGNED,))

    def has_confirm_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._offered(request, object_id, "confirm_card", (CardStatus.SOLD,))

    def has_activate_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._offered(request, object_id, "activate_card", STOCK_STATUSES)

    def has_report_lost_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._offered(request, object_id, "manage_card_lifecycle", (CardStatus.ACTIVE,))

    def has_cancel_loss_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._offered(request, object_id, "manage_card_lifecycle", (CardStatus.LOST,))

    def has_replace_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._offered(
            request, object_id, "manage_card_lifecycle", (CardStatus.ACTIVE, CardStatus.LOST)
        )

    def has_recycle_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._offered(
            request,
            object_id,
            "manage_card_lifecycle",
            (CardStatus.ACTIVE, CardStatus.LOST, CardStatus.BLOCKED),
        )

    def has_sub_card_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._offered(request, object_id, "manage_card_lifecycle", (CardStatus.ACTIVE,))

    # -- step pages
    def _page(
        self,
        request: HttpRequest,
        card: Card,
        form: forms.Form,
        title: str,
        submit_label: str,
        run: Callable[[forms.Form], str],
        explanation: str = "",
    ) -> HttpResponse:
        return _step_page(
            request,
            form=form,
            title=title,
            subject=card,
            back_url=reverse("admin:cards_card_change", args=[card.pk]),
            submit_label=submit_label,
            run=run,
            explanation=explanation,
        )

    @action(description=gettext_lazy("Sell"), permissions=["sell"], icon="point_of_sale")
    def sell(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        card = self._card(request, object_id)

        def run(form: forms.Form) -> str:
            if card.store is None:
                raise PermissionDenied(_("This card is not assigned to a store."), code="wrong_store")
            services.sell_card(card=card, actor=request.user, store=card.store, **form.cleaned_data)
            return _("Card %(number)s sold; a second person must confirm the sale.") % {"number": card.number}

        return self._page(
            request,
            card,
            SellForm(request.POST or None, currency=card.merchant.currency),
            _("Sell the card"),
            _("Sell"),
            run,
        )

    @action(description=gettext_lazy("Confirm sale"), permissions=["confirm"], icon="verified")
    def confirm(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        card = self._card(request, object_id)

        def run(form: forms.Form) -> str:
            services.confirm_sale(card=card, actor=request.user, **form.cleaned_data)
            return _("Sale of card %(number)s confirmed; the card is active.") % {"number": card.number}

        explanation = _("Sold for %(amount)s, %(method)s, invoice %(invoice)s.") % {
            "amount": format_money(card.amount or 0, card.merchant.currency),
            "method": card.get_payment_method_display(),
            "invoice": card.invoice_number,
        }
        return self._page(
            request,
            card,
            NoteForm(request.POST or None),
            _("Confirm the sale"),
            _("Confirm"),
            run,
            explanation,
        )

    @action(description=gettext_lazy("Activate"), permissions=["activate"], icon="how_to_reg")
    def activate(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        card = self._card(request, object_id)

        def run(form: forms.Form) -> str:
            services.activate_card(
                card=card, phone=form.cleaned_data["phone"], actor=request.user, store=card.store
            )
            return _("Card %(number)s is active.") % {"number": card.number}

        return self._page(
            request, card, PhoneForm(request.POST or None), _("Activate the card"), _("Activate"), run
        )

    @action(
        description=gettext_lazy("Report lost"), permissions=["report_lost"], icon="report", url_path="lost"
    )
    def report_lost(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        card = self._card(request, object_id)

        def run(form: forms.Form) -> str:
            services.report_lost(card=card, actor=request.user, note=form.cleaned_data["note"])
            return _("Card %(number)s is reported lost.") % {"number": card.number}

        return self._page(
            request, card, NoteForm(request.POST or None), _("Report the card lost"), _("Report lost"), run
        )

    @action(
        description=gettext_lazy("Cancel loss report"),
        permissions=["cancel_loss"],
        icon="undo",
        url_path="found",
    )
    def cancel_loss(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        card = self._card(request, object_id)

        def run(form: forms.Form) -> str:
            services.cancel_loss_report(card=card, actor=request.user, note=form.cleaned_data["note"])
            return _("Card %(number)s works again.") % {"number": card.number}

        return self._page(
            request,
            card,
            NoteForm(request.POST or None),
            _("Cancel the loss report"),
            _("Cancel the report"),
            run,
        )

    @action(description=gettext_lazy("Replace"), permissions=["replace"], icon="swap_horiz")
    def replace(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        card = self._card(request, object_id)

        def run(form: forms.Form) -> str:
            new = services.replace_card(
                card=card,
                actor=request.user,
                new_number=clean_number(form.cleaned_data["new_number"]) or None,
                note=form.cleaned_data["note"],
            )
            return _("Card %(old)s is replaced by %(new)s.") % {"old": card.number, "new": new.number}

        return self._page(
            request, card, ReplaceForm(request.POST or None), _("Replace the card"), _("Replace"), run
        )

    @action(description=gettext_lazy("Recycle"), permissions=["recycle"], icon="recycling")
    def recycle(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        card = self._card(request, object_id)

        def run(form: forms.Form) -> str:
            services.recycle_card(card=card, actor=request.user, note=form.cleaned_data["note"])
            return _("Card number %(number)s is back in stock.") % {"number": card.number}

        return self._page(
            request,
            card,
            NoteForm(request.POST or None),
            _("Recycle the card"),
            _("Recycle"),
            run,
            _("The number goes back to stock; this card's history stays with its current owner."),
        )

    @action(
        description=gettext_lazy("Issue sub-card"),
        permissions=["sub_card"],
        icon="library_add",
        url_path="sub-card",
    )
    def sub_card(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        card = self._card(request, object_id)

        def run(form: forms.Form) -> str:
            sub = services.issue_sub_card(main_card=card, actor=request.user)
            return _("Sub-card %(number)s issued.") % {"number": sub.number}

        return self._page(
            request, card, forms.Form(request.POST or None), _("Issue a sub-card"), _("Issue sub-card"), run
        )
