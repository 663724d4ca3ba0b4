"""The adjustment voucher form of the back office, which the management API fills from JSON too (issue 17):
one validation and one set of messages for both."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from tessera.adjustments import services
from tessera.adjustments.models import AdjustmentVoucher
from tessera.ledger.segments import members_in_segment
from tessera.members.models import Member, Segment
from tessera.members.schemas import SegmentFilters
from tessera.members.selectors import find_member_by_phone
from tessera.tenancy.models import Merchant
from tessera.tiers.models import Tier

#: A segment can hold many members; one voucher is one transaction, so it stays a reasonable size.
MAX_MEMBERS = 5000


class VoucherForm(forms.ModelForm):
    """Step 2 of 004 §3: members by phone or a segment, the same points and/or tier for each."""

    phones = forms.CharField(
        label=_("phones"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text=_("One phone per line (or separated by commas)."),
    )
    segment = forms.ModelChoiceField(label=_("or a segment"), queryset=Segment.objects.none(), required=False)
    points = forms.IntegerField(label=_("points"), initial=0, help_text=_("Positive adds, negative takes."))
    reason = forms.CharField(label=_("reason"), max_length=300, required=False)
    target_tier = forms.ModelChoiceField(label=_("set tier to"), queryset=Tier.objects.none(), required=False)

    class Meta:
        model = AdjustmentVoucher
        fields = ["code", "note", "tags"]

    merchant: Merchant | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].required = False
        self.fields["code"].help_text = _("Left blank, a code is generated.")
        if self.merchant is not None:
            self.fields["segment"].queryset = Segment.objects.of(self.merchant)  # type: ignore[attr-defined]
            tiers = Tier.objects.of(self.merchant).order_by("rank")
            self.fields["target_tier"].queryset = tiers  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.merchant is None:
            raise forms.ValidationError(_("Only a merchant's staff can create vouchers."))
        members: dict[int, Member] = {}
        unknown = []
        for raw in (data.get("phones") or "").replace(",", "\n").splitlines():
            if raw.strip():
                found = find_member_by_phone(merchant=self.merchant, phone=raw)
                if found is None:
                    unknown.append(raw.strip())
                else:
                    members[found.pk] = found
        if unknown:
            self.add_error(
                "phones", _("No member has these phones: %(phones)s") % {"phones": ", ".join(unknown)}
            )
        segment = data.get("segment")
        if segment is not None:
            for found in members_in_segment(
                merchant=self.merchant, filters=SegmentFilters.model_validate(segment.filters)
            )[: MAX_MEMBERS + 1]:
                members[found.pk] = found
        if not members and not unknown:
            self.add_error("phones", _("Add at least one member."))
        if len(members) > MAX_MEMBERS:
            self.add_error("segment", _("At most %(count)s members per voucher.") % {"count": MAX_MEMBERS})
        if not data.get("points") and data.get("target_tier") is None:
            self.add_error("points", _("Give points to add or take, or a tier."))
        code = (data.get("code") or "").strip()
        if code and AdjustmentVoucher.objects.of(self.merchant).filter(code=code).exists():
            self.add_error("code", _("Another voucher has this code."))
        self.lines = [
            services.LineInput(
                member=m,
                points=data.get("points") or 0,
                reason=data.get("reason") or "",
                target_tier=data.get("target_tier"),
            )
            for m in members.values()
        ]
        return data
