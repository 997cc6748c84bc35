"""Swagger UI (/docs) and ReDoc (/redoc) of both simulators work with no network: their assets
come from the simulator itself (fastapi-offline), and every operation of the OpenAPI document
is rendered in headless Chromium that can reach only loopback. Screenshots: results/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_log import sent_requests
from fastapi.testclient import TestClient

import bpsn
from bpsn.simulator.bigpanda.app import create_app as bigpanda_app
from bpsn.simulator.common.openapi import DOCS_ASSETS
from bpsn.simulator.servicenow.app import create_app as servicenow_app

pytestmark = pytest.mark.slow(seconds=10)

SIMULATORS = {"bigpanda": bigpanda_app, "servicenow": servicenow_app}
METHODS = ("get", "put", "post", "patch", "delete")


def operation_ids(document: dict[str, Any]) -> set[str]:
    return {op["operationId"] for item in document["paths"].values() for m, op in item.items() if m in METHODS}


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_docs_pages_load_their_assets_from_the_simulator_without_credentials(simulator: str) -> None:
    client = TestClient(SIMULATORS[simulator]())
    for page in ("/docs", "/redoc"):
        r = client.get(page)
        assert r.status_code == 200, page
        assert "cdn." not in r.text and "https://" not in r.text.replace("https://fonts", ""), r.text
        assert f'{DOCS_ASSETS}/' in r.text
    for asset, kind in (("swagger-ui-bundle.js", "javascript"), ("redoc.standalone.js", "javascript"),
                        ("swagger-ui.css", "css")):
        r = client.get(f"{DOCS_ASSETS}/{asset}")
        assert r.status_code == 200 and kind in r.headers["content-type"], asset
        assert len(r.content) > 100_000, f"{asset} is not the real bundle ({len(r.content)} bytes)"
    assert client.get(f"{DOCS_ASSETS}/nothing.js").status_code in (400, 404)  # ServiceNow answers 400 for a 404


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    with bpsn.running() as running:
        yield running


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_swagger_ui_and_redoc_render_every_operation_in_chromium_offline(chromium: Any, stack: Any,
                                                                         screenshots: Path, simulator: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url = getattr(stack, f"{simulator}_url")
    expected = operation_ids(httpx.get(f"{url}/openapi.json").json())
    assert len(expected) > 20

    sent_requests(chromium)  # what earlier pages sent
    chromium.get(f"{url}/docs")
    def swagger_ids(driver: Any) -> set[str]:  # Swagger UI's blocks are "operations-<tag>-<operationId>"
        ids = driver.execute_script("return [...document.querySelectorAll('.opblock')].map(e => e.id)")
        return {op for op in expected if any(i.endswith(f"-{op}") for i in ids)}
    WebDriverWait(chromium, 30, poll_frequency=0.2).until(lambda d: swagger_ids(d) == expected)
    _only_loopback(chromium, url)
    _show(chromium, ".opblock")
    chromium.save_screenshot(str(screenshots / f"{simulator}-docs.png"))

    chromium.get(f"{url}/redoc")
    def redoc_ids(driver: Any) -> set[str]:
        ids = driver.execute_script("return [...document.querySelectorAll(\"[data-section-id^='operation/']\")]"
                                    ".map(e => e.dataset.sectionId)")
        return {i.removeprefix("operation/") for i in ids}
    WebDriverWait(chromium, 30, poll_frequency=0.2).until(lambda d: redoc_ids(d) == expected)
    assert chromium.find_elements(By.CSS_SELECTOR, "[data-section-id^='operation/'] h2"), "no operation headings"
    _only_loopback(chromium, url)
    _show(chromium, "[data-section-id^='operation/']")
    chromium.save_screenshot(str(screenshots / f"{simulator}-redoc.png"))


def _only_loopback(driver: Any, url: str) -> None:
    """The page sent requests to the simulator only; anything else (ReDoc's logo links a CDN) was
    stopped in the browser by the page's Content-Security-Policy."""
    sent, blocked = sent_requests(driver)
    assert f"{url}/openapi.json" in sent and all(u.startswith(f"{url}/") for u in sent), (sent, blocked)


def _show(driver: Any, selector: str) -> None:
    """Scroll the first rendered operation into view, so the screenshot shows the API, not its preface."""
    driver.execute_script("document.querySelector(arguments[0]).scrollIntoView()", selector)
