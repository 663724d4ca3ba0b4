"""Forms of the integrations' back-office pages, which the management API fills from JSON too (issue 17):
one validation and one set of messages for both."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget, UnfoldAdminTextInputWidget

from tessera.integrations.models import EVENT_TYPES, Connection, WebhookEndpoint

#: What a merchant edits on an endpoint (the admin adds `merchant` for platform operators).
ENDPOINT_FIELDS = ("url", "description", "event_types", "is_active")
#: What may change on a connection after it is made: never its platform or secret.
CONNECTION_CHANGE_FIELDS = ("name", "store", "is_active")


class ConnectionForm(forms.ModelForm):
    signing_secret = forms.CharField(
        label=_("signing secret"),
        required=False,
        max_length=200,
        widget=UnfoldAdminTextInputWidget,
        help_text=_(
            "Paste the webhook signing secret your shop shows (Shopify, Haravan, Sapo), or leave empty "
            "and Tessera makes one. It is shown once and never again."
        ),
    )

    class Meta:
        model = Connection
        fields = ("platform", "name", "store")


class EndpointForm(forms.ModelForm):
    url = forms.URLField(
        label=_("URL"), max_length=500, assume_scheme="https", widget=UnfoldAdminTextInputWidget
    )
    event_types = forms.MultipleChoiceField(
        label=_("event types"),
        choices=EVENT_TYPES,
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text=_("None ticked: every event."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("merchant", "url", "description", "event_types", "is_active")
