"""The dashboard in headless Chromium (Debian's package, loopback only): signed in with the
admin credential, it shows the ticket that a test alert made, with no page reload; its form adds a
fault rule. Screenshots: results/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_log import sent_requests

import bpsn

WAIT = 20  # seconds: the page polls once a second


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    with bpsn.running() as running:
        yield running


def _wait(driver: Any, condition: Any, what: str) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(condition)
    except TimeoutException:
        page = driver.find_element("tag name", "body").text
        raise AssertionError(f"the dashboard never showed {what}; page text:\n{page}") from None


def _sign_in(driver: Any, url: str, fields: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By
    driver.get(f"{url}/")
    _wait(driver, lambda d: d.find_element(By.ID, "sign-in").is_displayed(), "its sign-in form")
    form = driver.find_element(By.ID, "sign-in-form")
    for name, value in fields.items():
        box = driver.find_element(By.ID, f"sign-in-{name}")
        box.clear()
        box.send_keys(value)
    form.submit()
    _wait(driver, lambda d: d.find_element(By.ID, "status").text.startswith("live"), "a live summary")


def test_the_bigpanda_dashboard_shows_a_new_ticket_without_a_reload(chromium: Any, stack: Any,
                                                                    screenshots: Path) -> None:
    from selenium.webdriver.common.by import By
    stack.reset()
    token = stack.bigpanda_backend.settings.admin_token.get_secret_value()
    _sign_in(chromium, stack.bigpanda_url, {"token": token})
    assert token not in chromium.page_source  # kept in sessionStorage, never written into the page
    chromium.execute_script("window.bpsnMarker = 'set before the alert'")

    created = stack.send_alerts({"status": "critical", "host": "dash-1", "check": "cpu", "description": "CPU on fire"})
    incident_id = created.json()["alerts"][0]["incident_id"]
    assert stack.poll().created == 1
    ticket = stack.tickets()[0]

    row = _wait(chromium, lambda d: d.find_elements(By.CSS_SELECTOR, f"#pairs tr[data-ticket='{ticket['number']}']"),
                f"ticket {ticket['number']}")[0]
    assert chromium.execute_script("return window.bpsnMarker") == "set before the alert", "the page was reloaded"
    assert row.get_attribute("data-incident") == incident_id  # the incident beside its ticket
    assert "CPU on fire" in row.text and "critical" in row.text
    link = row.find_element(By.CSS_SELECTOR, "a")
    assert link.get_attribute("href") == f"{stack.servicenow_url}/nav_to.do?uri=incident.do?sys_id={ticket['sys_id']}"
    requests = chromium.find_element(By.ID, "requests").text
    assert "/integrations/v3/servicenow/shares" in requests and "/data/v2/alerts" in requests
    assert "of 5/s" in chromium.find_element(By.ID, "rates").text
    sent, _ = sent_requests(chromium)
    assert sent and all(u.startswith(f"{stack.bigpanda_url}/") for u in sent), sent  # no CDN, nothing else
    chromium.save_screenshot(str(screenshots / "bigpanda-dashboard.png"))


def test_the_servicenow_dashboard_adds_a_fault_rule_from_its_form(chromium: Any, stack: Any, screenshots: Path) -> None:
    from selenium.webdriver.common.by import By
    stack.reset()
    stack.send_alerts({"status": "warning", "host": "dash-2", "check": "disk"})
    stack.poll()
    ticket = stack.tickets()[0]
    chromium.delete_all_cookies()
    chromium.execute_script("sessionStorage.clear()")
    c = stack.credentials
    _sign_in(chromium, stack.servicenow_url, {"user": c.servicenow_admin, "password": c.servicenow_admin_password})
    row = _wait(chromium, lambda d: d.find_elements(By.CSS_SELECTOR, f"#pairs tr[data-ticket='{ticket['number']}']"),
                f"ticket {ticket['number']}")[0]
    assert "New" in row.text  # the state's label, not its value

    form = chromium.find_element(By.ID, "fault-form")
    form.find_element(By.NAME, "path").send_keys("/api/now/table/incident")
    form.find_element(By.NAME, "status").send_keys("503")
    form.find_element(By.NAME, "times").send_keys("2")
    form.submit()
    _wait(chromium, lambda d: d.find_element(By.ID, "fault-result").text.startswith("rule "), "the rule added")
    rules = [r.to_dict() for r in stack.servicenow_backend.faults.rules]
    assert [(r["path"], r["status"], r["times"]) for r in rules] == [("/api/now/table/incident", 503, 2)]
    _wait(chromium, lambda d: d.find_elements(By.CSS_SELECTOR, f"tr[data-fault='servicenow:{rules[0]['id']}']"),
          "the new rule in its table")

    form.find_element(By.NAME, "status").clear()
    form.find_element(By.NAME, "status").send_keys("200")  # not an error status: the API's 400, shown as it is
    form.submit()
    _wait(chromium, lambda d: d.find_element(By.ID, "fault-result").text.startswith("refused (400)"), "the refusal")
    assert len(stack.servicenow_backend.faults.rules) == 1
    chromium.save_screenshot(str(screenshots / "servicenow-dashboard.png"))
