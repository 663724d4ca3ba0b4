"""Integrations endpoints of the public API."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["integrations"])
