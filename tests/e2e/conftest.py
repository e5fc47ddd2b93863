"""The e2e suite's fixtures: a served build with the web UI, and headless Chromium.

The build is ml-latest-small plus one unrated movie with a hostile title (to prove the pages
insert data as text), with item2vec, one-epoch deepfm and neumf models and the evaluation
report, made once per module. The service runs as a real server process: `sparrow serve`.
Chromium is Debian's (`apt-get install chromium`), driven by Playwright (`pip install
playwright`; never `playwright install`).
"""

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Response, sync_playwright
from rich.console import Console
from tests.serving_fixtures import make_serving_build, serving

from sparrow.evaluation.offline import evaluate_models

CHROMIUM = Path(os.environ.get("SPARROW_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
HOSTILE_ID = 999999
HOSTILE_TITLE = '<script>alert(1)</script> & "Friends"'
TIMEOUT_MS = 20_000
BUDGET_MS = 10_000  # ranking budget: a busy test machine must not make ranking fall back


@dataclass
class Site:
    """The running service: its base URL and build directory."""

    url: str
    build: Path

    def events(self) -> list[str]:
        log = self.build / "events" / "events.log"
        return log.read_text().splitlines() if log.is_file() else []


@dataclass
class Watch:
    """What went wrong in a page: console errors, uncaught exceptions, dialogs, 4xx/5xx."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)  # regexes of expected console errors

    def allow(self, pattern: str) -> None:
        self.allowed.append(pattern)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(re.search(p, e) for p in self.allowed)]


def _hostile_dataset(source: Path, folder: Path) -> Path:
    """ml-latest-small with one more movie (no ratings) whose title is markup."""
    folder.mkdir(parents=True)
    for path in source.iterdir():
        if path.name != "movies.csv":
            (folder / path.name).symlink_to(path)
    movies = (source / "movies.csv").read_bytes()
    newline = b"\r\n" if movies.endswith(b"\r\n") else b"\n"
    quoted = HOSTILE_TITLE.replace('"', '""')
    row = f'{HOSTILE_ID},"{quoted} (2020)",Action|Drama'.encode() + newline
    (folder / "movies.csv").write_bytes(movies + row)
    return folder


@pytest.fixture(scope="module")
def web_build(ml_latest_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Features, item2vec, deepfm and neumf (one epoch) and the evaluation report (~20 s)."""
    root = tmp_path_factory.mktemp("e2e")
    data = _hostile_dataset(ml_latest_small, root / "data" / "ml-latest-small")
    out = make_serving_build(data, root / "build")
    evaluate_models(out, console=Console(quiet=True))
    return out


@pytest.fixture(scope="module")
def site(
    web_build: Path, shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """The service with the web UI on a free port (the sparrow-sample posters)."""
    posters = shared_data / "sparrow-sample" / "posters"
    if not (posters / "1.jpg").is_file():
        pytest.fail(f"posters not found at {posters}")
    log = tmp_path_factory.mktemp("e2e-server") / "server.log"
    env = {"SPARROW_POSTERS": str(posters), "SPARROW_SERVING__BUDGET_MS": str(BUDGET_MS)}
    with serving(web_build, log, env=env) as url:
        yield Site(url, web_build)


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the pages' screenshots go: $SPARROW_E2E_SCREENSHOTS, else pytest's temp folder."""
    given = os.environ.get("SPARROW_E2E_SCREENSHOTS")
    folder = Path(given) if given else tmp_path_factory.getbasetemp() / "e2e-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium (fails, never skips, when it is missing)."""
    if not CHROMIUM.is_file() or shutil.which(str(CHROMIUM)) is None:
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield found
        found.close()


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def page(
    browser: Browser, watch: Watch, screenshots: Path, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A fresh desktop-sized page that records console errors, page errors, dialogs and failed
    responses; after the test: a screenshot, and no unexpected error allowed."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watch.errors.append(f"console: {message.text} ({message.location.get('url')})")

    def response(answer: Response) -> None:
        if answer.status >= 400:
            watch.errors.append(f"response: {answer.status} {answer.url}")

    def dialog(d: Dialog) -> None:
        watch.dialogs.append(d.message)
        d.dismiss()

    tab.on("console", console)
    tab.on("pageerror", lambda exc: watch.errors.append(f"pageerror: {exc}"))
    tab.on("response", response)
    tab.on("dialog", dialog)
    yield tab
    try:
        tab.screenshot(path=str(screenshots / f"{request.node.name}.png"), full_page=True)
    finally:
        context.close()
    assert not watch.dialogs, f"dialogs opened: {watch.dialogs}"
    assert not watch.unexpected(), "errors in the page:\n" + "\n".join(watch.unexpected())
