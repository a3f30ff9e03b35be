"""Real-browser tests: Debian's Chromium, headless, driven by Playwright against the gateway served on loopback.

The browser is started once per test session (it takes about a second) and each test gets fresh browser contexts,
so no cookie, storage or cache crosses from one test to the next. Playwright's sync API marks its own event loop
as running in the thread that uses it, which would stop every `asyncio.run` in the database fixtures (and every
async test after it): so Playwright lives in a thread of its own, and the body of every test that uses the browser
runs in that thread too (`pytest_pyfunc_call` below, bound to tests/web by its conftest.py). Fixtures still set up
in the main thread; a test body that needs the async API or the database calls `off_browser_thread`.

Under CI=true a missing or unstartable Chromium fails the tests; elsewhere they are skipped with the reason.
Never `playwright install`: the tests drive the system's `chromium`, installed with the package manager.

Every page a test opens is checked with axe-core: `axe(page)` asserts no violations, and closing a page that
loaded a document nobody checked fails the test, so "0 violations on every page visited" holds by construction.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import os
import queue
import shutil
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Browser, BrowserContext, Frame, Locator, Page, Route, ViewportSize, sync_playwright
from playwright.sync_api import expect as playwright_expect

from gateway.app import create_app
from gateway.auth.portal_sessions import ensure_portal_client
from gateway.db import create_engine, create_session_factory
from gateway.serving import server_config
from gateway.settings import Settings
from tests.support.api import ApiWorld, Gateway, SentTask, sent_task
from tests.support.loopback import free_port, running
from tests.support.portal import STAFF, portal_settings

T = TypeVar("T")

# Debian's Chromium as the CI machine runs it: as root (no sandbox), headless, and quiet: nothing fetched from the
# network behind the test's back. Playwright gives each launch a fresh, temporary user-data-dir of its own.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
HUNG_SECONDS = 900
TIMEOUT_MS = 15_000  # one action or navigation; generous for a loaded 2-core machine, never a speed check


class BrowserUnavailable(RuntimeError):
    """Chromium is not installed or would not start; the message says which."""


class BrowserThread:
    """One Playwright and one Chromium, owned by a thread; `call(fn)` runs `fn` there and returns its result."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self._jobs: queue.Queue[tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None] = queue.Queue()
        self._started: concurrent.futures.Future[Browser] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._main, name="chromium", daemon=True)
        self._thread.start()
        try:
            self.browser = self._started.result(timeout=120)
        except Exception as error:
            raise BrowserUnavailable(f"Chromium at {executable} did not start: {error}") from error

    def _main(self) -> None:
        try:
            with sync_playwright() as playwright:
                try:
                    browser = playwright.chromium.launch(
                        executable_path=self.executable, args=list(CHROMIUM_ARGS), headless=True
                    )
                except Exception as error:
                    self._started.set_exception(error)
                    return
                self._started.set_result(browser)
                while (job := self._jobs.get()) is not None:
                    work, done = job
                    try:
                        done.set_result(work())
                    except BaseException as error:  # the caller re-raises it: assertion errors included
                        done.set_exception(error)
                browser.close()
        except Exception as error:
            if not self._started.done():
                self._started.set_exception(error)

    @property
    def here(self) -> bool:
        return threading.current_thread() is self._thread

    def call(self, work: Callable[[], T]) -> T:
        if self.here:
            return work()
        done: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((work, done))
        try:
            return done.result(timeout=HUNG_SECONDS)
        except concurrent.futures.TimeoutError:
            # Not a speed check: a test body that never returns would otherwise hang the whole run silently.
            raise AssertionError(f"the browser thread did not come back within {HUNG_SECONDS} s") from None

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=60)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the browser tests must run in CI: {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="session")
def chromium() -> Iterator[BrowserThread]:
    executable = shutil.which("chromium")
    if executable is None:
        _unavailable("no `chromium` command (apt-get install chromium)")
    try:
        thread = BrowserThread(executable)
    except BrowserUnavailable as error:
        _unavailable(str(error))
    try:
        yield thread
    finally:
        thread.stop()


_BODY_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run the body of a browser test in the browser's thread: Playwright's objects belong to that thread."""
    if "chromium" not in pyfuncitem.fixturenames:
        return None
    thread: BrowserThread = pyfuncitem.funcargs["chromium"]  # type: ignore[assignment]
    test = pyfuncitem.obj
    if inspect.iscoroutinefunction(test):
        pytest.fail("a browser test is a plain function: Playwright's sync API runs in the browser's thread")
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    try:
        thread.call(lambda: test(**arguments))
    except BaseException:
        pyfuncitem.stash[_BODY_FAILED] = True  # the failure is the story; unchecked pages after it are not
        raise
    return True


def off_browser_thread(work: Callable[[], Awaitable[T]]) -> T:
    """Run async work (the API, the database) from a browser test's body, in a thread with its own event loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result()  # type: ignore[arg-type]


# -- the gateway, served on loopback ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """The gateway served on loopback for one test: its base URL and settings, and the API world's clients."""

    url: str
    settings: Settings
    world: ApiWorld


async def _point_portal_client(settings: Settings) -> None:
    """The portal's redirect URI is issuer + /portal/callback: register it for this server's address."""
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            await ensure_portal_client(
                db=db, organisation_slug="hub", issuer_url=settings.issuer_url, session_secret=settings.session_secret
            )
    finally:
        await engine.dispose()


@contextlib.contextmanager
def serve_gateway(settings: Settings, port: int) -> Iterator[str]:
    """The gateway served as `gateway serve` serves it (gateway/serving.py), on 127.0.0.1:port."""
    with running(server_config(settings, create_app(settings), host="127.0.0.1", port=port)) as url:
        yield url


@pytest.fixture
def site(database_url: str, database_kind: str, portal_templates: dict[str, Any]) -> Iterator[Site]:
    port = free_port()
    settings = portal_settings(database_url, f"http://127.0.0.1:{port}")
    asyncio.run(_point_portal_client(settings))
    with serve_gateway(settings, port) as url:
        yield Site(url=url, settings=settings, world=ApiWorld(settings, portal_templates[database_kind][2]))


def _with_api(site: Site, work: Callable[[Gateway], Awaitable[T]]) -> T:
    async def run() -> T:
        async with httpx.AsyncClient(base_url=site.url) as http:
            return await work(Gateway(http, site.world))

    return off_browser_thread(run)


def api_sent_task(site: Site, provider: str = "cpn", **options: Any) -> SentTask:
    """Casework set up through the GraphQL API over loopback, as the Hub's machine client: a referral created and
    its task sent to `provider` (tests/support/api.py sent_task)."""
    return _with_api(site, lambda gateway: sent_task(gateway, provider, **options))


TASK_QUERY = "query($id: ID!) { task(id: $id) { id status reference version } }"


def api_task(site: Site, role: str, task_id: str) -> dict[str, Any]:
    """A task as `role`'s machine client reads it through the API: what the browser did, seen from outside."""

    async def read(gateway: Gateway) -> dict[str, Any]:
        answer = await gateway.gql(role, TASK_QUERY, {"id": task_id})
        task: dict[str, Any] = answer["data"]["task"]
        return task

    return _with_api(site, read)


# -- pages, each checked with axe -------------------------------------------------------------------------------


@dataclass
class AxeLedger:
    """The documents a page loaded and whether each was checked: an unchecked one fails the test."""

    loaded: list[str] = field(default_factory=list)
    checked: set[int] = field(default_factory=set)
    titles: list[str] = field(default_factory=list)

    def unchecked(self) -> list[str]:
        return [url for number, url in enumerate(self.loaded) if number not in self.checked]


_LEDGERS: dict[int, AxeLedger] = {}


def ledger(page: Page) -> AxeLedger:
    return _LEDGERS.setdefault(id(page), AxeLedger())


def _describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        targets = ", ".join(" ".join(map(str, node.get("target", []))) for node in violation.get("nodes", []))
        lines.append(f"  {violation['id']} ({violation.get('impact')}): {violation.get('help')} at {targets}")
    return "\n".join(lines)


# Pages whose browser runs no JavaScript, and where to check them (axe-core is JavaScript that needs timers).
_WITHOUT_JAVASCRIPT: dict[int, Callable[[], Page]] = {}
_NO_SCRIPT = "script-src 'none'"


def _as_served(page: Page, checker: Page) -> Page:
    """The page's document exactly as the browser without JavaScript holds it, in a page that can run axe: the
    same address and stylesheets, and a policy that runs none of the page's own scripts."""
    html = page.content()
    url = page.url.split("#")[0]

    def fulfil(route: Route) -> None:
        route.fulfill(
            status=200,
            body=html,
            headers={"content-type": "text/html; charset=utf-8", "content-security-policy": _NO_SCRIPT},
        )

    checker.route(url, fulfil)
    try:
        checker.goto(url)
    finally:
        checker.unroute(url, fulfil)
    return checker


def axe(page: Page) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now and assert it finds nothing; returns the (empty) violations."""
    page.wait_for_load_state("load")
    checker = _WITHOUT_JAVASCRIPT.get(id(page))
    results = Axe().run(page if checker is None else _as_served(page, checker()))
    violations: list[dict[str, Any]] = results.response["violations"]
    assert not violations, f"axe found {len(violations)} violation(s) on {page.url}:\n{_describe(violations)}"
    book = ledger(page)
    if book.loaded:
        book.checked.add(len(book.loaded) - 1)
    book.titles.append(page.title())
    return violations


def _watch(page: Page) -> None:
    """Note each document the page's main frame commits to. A jump to a fragment of the same document (an error
    summary's link, say) is no new page; a form re-rendered at the same address is."""
    book = ledger(page)

    def navigated(frame: Frame) -> None:
        if frame.parent_frame is not None:
            return
        url = frame.url
        previous = book.loaded[-1] if book.loaded else None
        if previous is not None and "#" in url and url.split("#")[0] == previous.split("#")[0]:
            return
        book.loaded.append(url)

    page.on("framenavigated", navigated)


Pages = Callable[..., Page]


@pytest.fixture
def pages(chromium: BrowserThread, site: Site, request: pytest.FixtureRequest) -> Iterator[Pages]:
    """`pages("coordinator")` is a page in a fresh browser context, signed in; `pages()` one signed out;
    `pages(javascript=False)` one whose browser runs no JavaScript at all."""
    contexts: list[BrowserContext] = []
    opened: list[Page] = []
    checkers: list[Page] = []

    def new_context(javascript: bool) -> BrowserContext:
        context = chromium.browser.new_context(
            base_url=site.url, viewport=VIEWPORT, java_script_enabled=javascript, locale="en-GB"
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    def checker() -> Page:
        if not checkers:
            checkers.append(new_context(javascript=True).new_page())
        return checkers[0]

    def open_page(who: str | None = None, *, javascript: bool = True) -> Page:
        page = new_context(javascript).new_page()
        if not javascript:
            _WITHOUT_JAVASCRIPT[id(page)] = checker
        _watch(page)
        opened.append(page)
        if who is not None:
            sign_in(page, who)
        return page

    yield open_page

    def close() -> list[str]:
        unchecked = [url for page in opened for url in ledger(page).unchecked()]
        for page in opened:
            _LEDGERS.pop(id(page), None)
            _WITHOUT_JAVASCRIPT.pop(id(page), None)
        for context in contexts:
            context.close()
        return unchecked

    unchecked = chromium.call(close)
    assert not unchecked or request.node.stash.get(_BODY_FAILED, False), (
        f"pages loaded but never checked with axe: {unchecked}"
    )


# -- what people do -----------------------------------------------------------------------------------------------


def sign_in(page: Page, who: str) -> None:
    """Through the authorisation server's sign-in form, as a person would; checks both pages with axe."""
    member = STAFF[who]
    page.goto("/portal/sign-in")
    playwright_expect(page.get_by_role("heading", name="Sign in to the referral gateway")).to_be_visible()
    axe(page)
    page.get_by_label("Email address").fill(member.email)
    page.get_by_label("Password", exact=True).fill(member.password)
    with page.expect_navigation(url="**/portal/**"):
        page.get_by_role("button", name="Sign in").click()
    playwright_expect(page.get_by_text(f"Signed in as {member.email}")).to_be_visible()
    axe(page)


def follow(page: Page, target: Locator) -> None:
    """Click a link or button that opens another page; returns once that page has loaded."""
    with page.expect_navigation():
        target.click()


def submit_empty(page: Page, button: str) -> Locator:
    """Press a form's button without answering: the GOV.UK error summary must appear and take the focus."""
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    playwright_expect(summary).to_be_visible()
    axe(page)
    return summary


# -- the keyboard alone -------------------------------------------------------------------------------------------

MAX_TABS = 80


def focused_is_visible(page: Page) -> bool:
    """The focused element shows that it is focused (GOV.UK's yellow focus state: an outline or a box shadow)."""
    return bool(
        page.evaluate(
            """() => {
                const el = document.activeElement
                if (!el || el === document.body) return false
                if (!el.matches(':focus-visible')) return false
                // GOV.UK hides the radio or checkbox itself and draws its focus ring round the label's box.
                const boxed = el.matches('input[type=radio], input[type=checkbox]') && el.labels && el.labels[0]
                const style = boxed ? getComputedStyle(el.labels[0], '::before') : getComputedStyle(el)
                const outlined = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0
                const shadowed = style.boxShadow && style.boxShadow !== 'none'
                const highlighted = style.backgroundColor === 'rgb(255, 221, 0)'
                return outlined || Boolean(shadowed) || highlighted
            }"""
        )
    )


def tab_to(page: Page, target: Locator, *, backwards: bool = False, within: bool = False) -> None:
    """Press Tab (or Shift+Tab) until `target` (or, `within`, something inside it) has the focus, checking at each
    stop on the way that the focus is visible."""
    key = "Shift+Tab" if backwards else "Tab"
    test = "el => el.contains(document.activeElement)" if within else "el => el === document.activeElement"
    for _ in range(MAX_TABS):
        page.keyboard.press(key)
        if target.evaluate(test):
            assert focused_is_visible(page), f"the focus in {target} is not visible on {page.url}"
            return
    raise AssertionError(f"{MAX_TABS} presses of {key} never reached {target} on {page.url}")


def type_into(page: Page, field_locator: Locator, text: str) -> None:
    tab_to(page, field_locator)
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(text)


def press_button(page: Page, button: Locator) -> None:
    """Tab to a button or link and press Enter; returns once the page it leads to has loaded."""
    tab_to(page, button)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def tick(page: Page, box: Locator) -> None:
    """A checkbox, or a radio that the Tab key lands on: Space checks it."""
    tab_to(page, box)
    if not box.is_checked():
        page.keyboard.press("Space")
    assert box.is_checked()


def choose_radio(page: Page, group: Locator, option: Locator) -> None:
    """Tab into a radio group (the browser decides which radio takes the focus), then the arrow keys to the option:
    arrows move and check, as people use them."""
    tab_to(page, group, within=True)
    for _ in range(group.get_by_role("radio").count()):
        if option.evaluate("el => el === document.activeElement"):
            break
        page.keyboard.press("ArrowDown")
    if not option.is_checked():
        page.keyboard.press("Space")
    assert option.is_checked(), f"could not choose {option} with the keyboard"
    assert focused_is_visible(page), f"the focus on {option} is not visible on {page.url}"
