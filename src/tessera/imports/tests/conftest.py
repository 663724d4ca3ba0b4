from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):  # type: ignore[no-untyped-def]
    """Uploaded import files go to a per-test folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
