"""The imports part of the public API."""

from ninja import Router

router = Router(tags=["imports"])
