"""Screenshots of the staff portal's main pages, for the README: `make screenshots` writes docs/screenshots/*.png.

The demo data (`gateway seed demo`) goes into a temporary SQLite database, the gateway is served on loopback as
`gateway serve` serves it, and Debian's Chromium (headless, through Playwright; never a downloaded browser) signs
in as the demo people and photographs each page at 1280 x 900. Every name and number on them is fictional.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from gateway import migrate
from gateway.app import create_app
from gateway.auth.principal import Role
from gateway.seed import demo_user_email, demo_user_password, seed_demo
from gateway.serving import server_config
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _serving(settings: Settings, port: int) -> Iterator[str]:
    server = uvicorn.Server(server_config(settings, create_app(settings), host="127.0.0.1", port=port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise SystemExit("the gateway did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class Camera:
    """Signs in as the demo people and saves what each page looks like."""

    def __init__(self, browser: Browser, base_url: str, output: Path) -> None:
        self.browser = browser
        self.base_url = base_url
        self.output = output
        self.saved: list[Path] = []

    def page_for(self, role: Role) -> Page:
        context = self.browser.new_context(
            base_url=self.base_url, viewport={"width": 1280, "height": 900}, locale="en-GB"
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.goto("/portal/sign-in")
        page.get_by_label("Email address", exact=True).fill(demo_user_email(role))
        page.get_by_label("Password", exact=True).fill(demo_user_password(role))
        with page.expect_navigation(url="**/portal/**"):
            page.get_by_role("button", name="Sign in").click()
        return page

    def shoot(self, page: Page, name: str) -> None:
        page.wait_for_load_state("load")
        path = self.output / f"{name}.png"
        page.screenshot(path=str(path), full_page=False, animations="disabled", caret="hide")
        self.saved.append(path)

    def follow(self, page: Page, button: str) -> None:
        with page.expect_navigation():
            page.get_by_role("button", name=button, exact=True).click()


def _create_referral(camera: Camera, page: Page) -> None:
    """The co-ordinator's question flow, photographed at an error, a question, and check your answers."""
    page.goto("/portal/hub")
    with page.expect_navigation():
        page.get_by_role("button", name="Create a referral").click()
    camera.follow(page, "Continue")  # nothing answered yet: the GOV.UK error summary
    camera.shoot(page, "03-create-referral-error")
    page.get_by_label("First name", exact=True).fill("Jordan")
    page.get_by_label("Last name", exact=True).fill("Sample")
    for part, typed in (("Day", "3"), ("Month", "6"), ("Year", "1988")):
        page.get_by_label(part, exact=True).fill(typed)
    camera.follow(page, "Continue")
    page.get_by_label("Phone number", exact=True).fill("07700900777")
    camera.follow(page, "Continue")
    page.get_by_label("Safe times to call (optional)", exact=True).fill("Weekday mornings")
    page.get_by_label("The perpetrator lives at the victim's address", exact=True).check()
    camera.follow(page, "Continue")
    page.get_by_label("Officer's needs assessment", exact=True).check()
    page.get_by_label("Road collision", exact=True).check()
    page.get_by_role("group", name="Was the crime reported to police?").get_by_label("Yes", exact=True).check()
    camera.follow(page, "Continue")
    page.get_by_label("Mental health", exact=True).check()
    camera.follow(page, "Continue")
    camera.shoot(page, "04-create-referral-providers")
    page.get_by_label("Road Victims Trust", exact=True).check()
    camera.follow(page, "Continue")
    page.get_by_role("group", name="Who gave consent?").get_by_label("The victim", exact=True).check()
    page.get_by_label("Verbal", exact=True).check()
    today = datetime.now(ZoneInfo("Europe/London")).date()  # consent is given on a UK date
    dates = page.get_by_role("group", name="When was consent given?")
    for label, value in (("Day", today.day), ("Month", today.month), ("Year", today.year)):
        dates.get_by_label(label, exact=True).fill(str(value))
    for box in page.get_by_role("group", name="What information may be shared?").get_by_role("checkbox").all():
        box.check()
    statistics = page.get_by_role("group", name="May anonymised figures about the victim be counted in statistics?")
    statistics.get_by_label("Yes", exact=True).check()
    camera.follow(page, "Continue")
    camera.shoot(page, "05-check-your-answers")


def photograph(browser: Browser, base_url: str, output: Path) -> list[Path]:
    camera = Camera(browser, base_url, output)
    hub = camera.page_for(Role.HUB_COORDINATOR)
    camera.shoot(hub, "01-hub-home")
    hub.goto("/portal/referrals")
    with hub.expect_navigation():
        hub.get_by_role("link", name="REF-", exact=False).first.click()
    camera.shoot(hub, "02-referral")
    _create_referral(camera, hub)

    caseworker = camera.page_for(Role.PROVIDER_CASEWORKER)
    camera.shoot(caseworker, "06-inbox")
    with caseworker.expect_navigation():
        caseworker.get_by_role("table").get_by_role("link", name="REF-", exact=False).first.click()
    camera.shoot(caseworker, "07-task")
    return camera.saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where the PNGs go (default docs/screenshots)")
    output: Path = parser.parse_args().output
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("no `chromium` command: install Debian's chromium package (apt-get install chromium)")
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gateway-screenshots-") as scratch:
        database_url = f"sqlite+aiosqlite:///{Path(scratch) / 'demo.sqlite3'}"
        port = _free_port()
        settings = Settings(
            database_url=database_url,
            issuer_url=f"http://127.0.0.1:{port}",
            dispatch_in_serve=False,
            log_level="WARNING",
        )
        migrate.upgrade(database_url)
        asyncio.run(seed_demo(settings))
        with _serving(settings, port) as base_url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                saved = photograph(browser, base_url, output)
            finally:
                browser.close()
    for path in saved:
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", file=sys.stderr)


if __name__ == "__main__":
    main()
