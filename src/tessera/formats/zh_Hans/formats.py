"""Django groups Simplified Chinese numbers by ten thousand with no separator; shops and receipts in
mainland China print money as 1,500.00."""

from django.conf.locale.zh_Hans.formats import *  # noqa: F403

THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
