"""Issue 16: long bulk work reports its progress — the nightly release and expiry and the tier review
count their work and advance by each chunk done; a command run by hand on a terminal shows bars, and
nothing when its output is not a terminal or with `--no-progress`."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core.management import call_command

from tessera.core.progress import SILENT, Advance, console_progress
from tessera.ledger.tasks import expire_points, release_pending
from tessera.ledger.tests.factories import T0, days, earn, points_account
from tessera.tiers.models import MemberTier
from tessera.tiers.selectors import tiers_of
from tessera.tiers.services import review_program
from tessera.tiers.tests.factories import program
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


class Recorder:
    """A `Progress` that keeps what each task counted and how far it advanced."""

    def __init__(self) -> None:
        self.tasks: list[tuple[str, int, list[int]]] = []

    def task(self, description: str, count: Callable[[], int]) -> Advance:
        steps: list[int] = []
        self.tasks.append((description, count(), steps))
        return steps.append


def test_issue_16_release_and_expiry_advance_by_each_chunk_of_accounts(merchant):
    for _ in range(5):
        account = points_account(merchant)
        earn(account, 10, pending_for=2)
        earn(account, 5, at=T0 - days(400), expires_in=365)
    recorder = Recorder()

    assert release_pending(T0 + days(3), chunk_size=2, progress=recorder) == 50
    assert expire_points(T0 + days(3), chunk_size=2, progress=recorder) == 25

    assert [(count, steps) for _description, count, steps in recorder.tasks] == [
        (5, [2, 2, 1]),
        (5, [2, 2, 1]),
    ]


def test_issue_16_tier_review_advances_by_each_chunk_of_members(merchant):
    tiered = program(merchant)
    gold = tiers_of(merchant.pk)[1]
    for _ in range(3):
        MemberTier.objects.create(
            merchant=merchant, member=MemberFactory(merchant=merchant), tier=gold, since=T0, window_start=T0
        )
    recorder = Recorder()

    result = review_program(program=tiered, now=T0 + timedelta(days=1), chunk_size=2, progress=recorder)

    assert (result.reviewed, result.downgraded) == (3, 3)
    assert [(count, steps) for _description, count, steps in recorder.tasks] == [(3, [2, 1])]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_issue_16_bars_only_on_a_terminal_and_not_with_no_progress():
    with console_progress(io.StringIO()) as progress:
        assert progress is SILENT
    with console_progress(Terminal(), enabled=False) as progress:
        assert progress is SILENT
    screen = Terminal()
    with console_progress(screen) as progress:
        advance = progress.task("Expiring points (accounts)", lambda: 4)
        advance(3)
        advance(1)
    assert "Expiring points (accounts)" in screen.getvalue()
    assert "4/4" in screen.getvalue()


def test_issue_16_commands_run_quietly_when_not_on_a_terminal(merchant, capsys):
    program(merchant)
    call_command("run_nightly")
    call_command("review_tiers", "--no-progress")
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "tier programs" in captured.out
