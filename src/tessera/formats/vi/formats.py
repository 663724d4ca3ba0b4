"""Django's Vietnamese formats name "." as the thousand separator but group nothing: 1500000 đồng
would print as "1500000". Amounts are read in groups of three: 1.500.000."""

from django.conf.locale.vi.formats import *  # noqa: F403

NUMBER_GROUPING = 3
