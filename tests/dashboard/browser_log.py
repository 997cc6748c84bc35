"""What headless Chromium sent over the network, read from its DevTools log (conftest.py asks
Chromium to keep it)."""

from __future__ import annotations

import json
from typing import Any


def sent_requests(driver: Any) -> tuple[list[str], list[str]]:
    """(sent, blocked): the http(s) URLs the browser sent requests to since the last call, and those
    the page's Content-Security-Policy blocked before they left the browser (DevTools reports them
    as requests that failed with blockedReason "csp")."""
    urls: dict[str, str] = {}
    blocked: set[str] = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message["params"]
        if message["method"] == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if url.startswith(("http:", "https:")):
                urls[params["requestId"]] = url
        elif message["method"] == "Network.loadingFailed" and params.get("blockedReason") == "csp":
            blocked.add(params["requestId"])
    return ([url for rid, url in urls.items() if rid not in blocked],
            [url for rid, url in urls.items() if rid in blocked])
