"""`tessera screenshots --out docs/screenshots`: pictures of the back office in vi, zh-Hans and en.

Builds a throw-away installation (SQLite in a temporary directory, the demo data of `seed_demo`), serves
it, and lets headless Chromium log in and photograph the login page, dashboard, member list, a member's
page, their 360 page and the cashier screen. Nothing touches the database this command itself is
configured with.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tessera.tenancy.management.commands.seed_demo import DEMO_PASSWORD

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# language, browser locale, demo login, member to open (searched without accents)
SHOTS = [
    ("vi", "vi-VN", "admin", "nguyen van an"),
    ("zh-hans", "zh-CN", "tea-admin", ""),
    ("en", "en-US", "admin", "nguyen van an"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, server: subprocess.Popen[bytes], seconds: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise CommandError("The demo server stopped before answering.")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (our own local server)
                return
        except OSError:
            time.sleep(0.3)
    raise CommandError(f"The demo server did not answer at {url}.")


class Command(BaseCommand):
    help = "Screenshot the back office (login, dashboard, members, a 360 page, the till) in every language."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", default="docs/screenshots", help="Directory for the PNG files.")
        parser.add_argument("--chromium", default="/usr/bin/chromium", help="The Chromium executable.")

    def handle(self, *args: Any, **options: Any) -> None:
        out = Path(options["out"]).resolve()
        out.mkdir(parents=True, exist_ok=True)
        chromium = Path(options["chromium"])
        if not chromium.exists():
            raise CommandError(f"Chromium is not installed at {chromium} (apt-get install chromium).")
        with tempfile.TemporaryDirectory(prefix="tessera-shots-") as var_dir:
            env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
            env.update(TESSERA_VAR_DIR=var_dir, TESSERA_ENV="development", DEBUG="1")
            tessera = [sys.executable, "-m", "tessera"]
            for step in (["migrate", "--noinput", "-v", "0"], ["seed_demo"]):
                subprocess.run([*tessera, *step], env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
            port = _free_port()
            server = subprocess.Popen(  # noqa: S603
                [*tessera, "runserver", f"127.0.0.1:{port}", "--noreload"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                _wait_for(f"{base}/admin/login/", server)
                written = self._shoot(base, chromium, out)
            finally:
                server.terminate()
                server.wait(timeout=10)
        for path in written:
            self.stdout.write(str(path))

    def _shoot(self, base: str, chromium: Path, out: Path) -> list[Path]:
        from playwright.sync_api import sync_playwright

        written: list[Path] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
            )
            for language, locale, username, search in SHOTS:
                context = browser.new_context(viewport={"width": 1440, "height": 900}, locale=locale)
                context.add_cookies([{"name": "django_language", "value": language, "url": base}])
                page = context.new_page()

                def shot(name: str, page: Any = page, language: str = language) -> None:
                    path = out / f"{language}-{name}.png"
                    page.screenshot(path=str(path))
                    written.append(path)

                page.goto(f"{base}/admin/login/")
                shot("login")
                page.fill("input[name=username]", username)
                page.fill("input[name=password]", DEMO_PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(f"{base}/admin/")
                shot("dashboard")
                page.goto(f"{base}/admin/members/member/")
                shot("members")
                if search:
                    page.goto(f"{base}/admin/members/member/?q={search.replace(' ', '+')}")
                page.locator("#result_list tbody tr a").first.click()  # a name opens the member's 360 page
                page.wait_for_load_state()
                shot("member-360")
                self._back_office(base, page, shot)
                context.close()
            browser.close()
        return written

    def _back_office(self, base: str, page: Any, shot: Any) -> None:
        """From the member's 360 page: a quoted basket on the cashier screen, the member found by their
        phone as a cashier would type it."""
        phone = page.locator("#member-phone").inner_text().strip()
        page.goto(f"{base}/admin/tessera/cashier/")
        shot("cashier-lookup")
        page.fill("input[name=q]", phone)
        page.press("input[name=q]", "Enter")
        page.wait_for_load_state()
        if not page.locator("#basket-form").count():
            return  # a member without a phone (erased): no basket to show
        vnd = page.locator("#cashier-basket").get_attribute("data-currency") == "VND"
        item, price = ("Phở bò tái", "55000") if vnd else ("龙井茶", "38.00")
        for field, value in (("name", item), ("quantity", "2"), ("unit_price", price)):
            page.fill(f"input[name=lines-0-{field}]", value)
        page.press("input[name=lines-0-unit_price]", "F2")  # Enter would go on to a new line
        page.wait_for_selector("#quote")
        shot("cashier")
