"""Headless Chromium from Debian's packages (`make test` installs them as root), driven by Selenium
through Debian's chromedriver: no browser download. Without them the browser tests skip, saying how
to install them. The browser reaches nothing but loopback: every other host name fails to resolve,
so a page that needs a CDN shows it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
INSTALL = "as root: apt-get install chromium chromium-driver (make test does it), and pip install selenium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "results" / "screenshots"
# The flags this machine's Chromium needs (headless, as root) and no background traffic at all.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Selenium WebDriver on a fresh headless Chromium profile, closed after the module."""
    webdriver = pytest.importorskip("selenium.webdriver", reason=f"selenium is not installed ({INSTALL})")
    driver_path = shutil.which("chromedriver")
    if not Path(CHROMIUM).exists() or driver_path is None:
        pytest.skip(f"Debian's chromium or chromedriver is missing ({INSTALL})")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # DevTools network events: sent_requests
    from selenium.webdriver.chrome.service import Service
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
