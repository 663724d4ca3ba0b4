"""Point-of-sale endpoints: lookup, quote, transactions, points (E1, E2, E4, E9, E11)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["pos"])
