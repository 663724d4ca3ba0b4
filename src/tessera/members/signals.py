"""What the members app announces to the apps above it (issue 15 §5): they listen, members never call
them. The rewards app gives its sign-up and profile bonuses on these.

Sent inside the writer's transaction, after the member is saved, so what a listener writes commits or
rolls back with it. Sent by `register_member` and `update_member_profile` (every registration path: the
API, the back office, a card sale, a shop's webhook), not by the bulk import: imported members are
customers the merchant already had.
"""

from django.dispatch import Signal

#: Sent with `member` (just registered) and `now`.
member_registered = Signal()
#: Sent with `member` (profile just changed) and `now`.
member_profile_changed = Signal()
