"""The rendered book in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven by selenium opens every page of the table of contents, served
over HTTP, as a reader would.

Checked on every page: no console error (SEVERE entries of the browser log), every image
loaded with a nonzero natural size, every link into the book pointing at a file that
exists; and the search page finds "instability". A screenshot of chapter 01 is written to
``book/_build/screenshots/01_instability_at_init.png`` in the checkout, where CI keeps it.

Without Chromium the test is skipped with the reason, except under CI (``CI`` set), where
it fails: `.ci/run` installs Chromium, so its absence there is a fault.
"""

import functools
import http.server
import os
import shutil
import threading
import urllib.parse
from pathlib import Path

import pytest

from lmc.report import book

SCREENSHOT = book.ROOT / "book" / "_build" / "screenshots" / "01_instability_at_init.png"
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
LOAD_TIMEOUT = 60  # seconds a page may take to finish loading (a loaded machine is slow)


def _missing() -> str:
    """Why the browser cannot run here ("" when it can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if not any(shutil.which(b) for b in CHROMIUM):
        return "no Chromium (apt-get install chromium chromium-driver; .ci/run does)"
    if not shutil.which("chromedriver"):
        return "no chromedriver (apt-get install chromium-driver; .ci/run does)"
    return ""


MISSING = _missing()
# skipped before the book is built when the browser is missing here; under CI it fails instead
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(bool(MISSING) and not os.environ.get("CI"), reason=MISSING)]


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium; set up before the book is built, so CI without it fails at once."""
    if MISSING:
        pytest.fail(f"the browser test cannot run in CI: {MISSING}")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = next(shutil.which(b) for b in CHROMIUM if shutil.which(b))
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,1600"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(LOAD_TIMEOUT)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def site(browser, smoke_book):
    """The built book served over HTTP on a free port (as a reader's browser meets it)."""
    handler = functools.partial(_QuietHandler, directory=str(smoke_book["html"]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_address[1]}/", **smoke_book}
    server.shutdown()
    thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output readable
        pass


def _open(driver, url: str) -> list[dict]:
    """Load ``url``, wait until the document and all its images have loaded; the console
    errors it logged (SEVERE entries of the browser log)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)
    WebDriverWait(driver, LOAD_TIMEOUT).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && "
        "Array.from(document.images).every(i => i.complete)"))
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _local_file(html: Path, base: str, href: str) -> Path | None:
    """The built file a link into the book points at (None for a link elsewhere)."""
    if not href.startswith(base):
        return None
    path = urllib.parse.unquote(urllib.parse.urlsplit(href).path).lstrip("/")
    target = html / path
    return target / "index.html" if target.is_dir() or path == "" else target


def test_every_page_loads_with_its_images_and_working_links(browser, site):
    pages = sorted(f"{doc}.html" for doc in book.toc_documents(site["root"]))
    assert "book/chapters/01_instability_at_init.html" in pages and len(pages) >= 8
    problems = []
    for page in ["index.html"] + pages:
        errors = _open(browser, site["url"] + page)
        problems += [f"{page}: console error: {e['message']}" for e in errors]
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.currentSrc || i.src, i.naturalWidth])")
        problems += [f"{page}: image not loaded: {src}" for src, width in images if not width > 0]
        if page.startswith("book/chapters/01"):
            assert images, "chapter 01 shows no image"
            if "Re-run this chapter" not in browser.page_source:
                problems.append(f"{page}: no re-run box")
        links = browser.execute_script("return Array.from(document.links).map(a => a.href)")
        for href in links:
            target = _local_file(site["html"], site["url"], href)
            if target is not None and not target.is_file():
                problems.append(f"{page}: broken link {href}")
    assert not problems, "\n".join(problems)


def test_search_finds_instability(browser, site):
    from selenium.webdriver.support.ui import WebDriverWait

    errors = _open(browser, site["url"] + "search.html?q=instability")
    found = WebDriverWait(browser, LOAD_TIMEOUT).until(lambda d: d.execute_script(
        "return document.querySelectorAll('ul.search li').length"))
    assert found >= 1
    assert not errors, errors


def test_chapter_01_screenshot(browser, site):
    errors = _open(browser, site["url"] + "book/chapters/01_instability_at_init.html")
    assert not errors, errors
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1280, min(max(height, 800), 12_000))  # the whole page in one image
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and SCREENSHOT.stat().st_size > 20_000
    browser.set_window_size(1280, 1600)
