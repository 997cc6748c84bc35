"""An alert's fingerprint (what tells a changed event from an exact duplicate) holds its tags as a
dict since issue #19; snapshot files saved before hold them as sorted [name, value] pairs. Both
load to a fingerprint that still recognises the duplicate."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI

from bpsn.simulator.bigpanda.admin.snapshot import dumps, loads
from bpsn.simulator.bigpanda.admin.snapshot_doc import fingerprint
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.testing import call_asgi

ORG = {"Authorization": "Bearer demo-org-token"}
ALERT = {"app_key": "demo-alerts-app-key", "status": "critical", "host": "h1", "check": "cpu", "team": "db",
         "description": "CPU high"}


def _send(app: FastAPI, body: dict[str, Any]) -> int:
    return call_asgi(app, "POST", "/data/v2/alerts", headers=ORG, json=body).status_code


@pytest.mark.parametrize("saved_as_pairs", [False, True])
def test_a_duplicate_after_a_snapshot_load_changes_nothing(fresh_bigpanda: tuple[BigPandaBackend, FastAPI],
                                                           saved_as_pairs: bool) -> None:
    backend, app = fresh_bigpanda
    assert _send(app, ALERT) == 201
    document = json.loads(dumps(backend))
    [saved] = document["organizations"][0]["alerts"]
    assert saved["fingerprint"] == ["critical", False, "CPU high", {"host": "h1", "check": "cpu", "team": "db"}]
    if saved_as_pairs:  # as files saved before issue #19 hold it
        saved["fingerprint"][3] = sorted([k, v] for k, v in saved["fingerprint"][3].items())
    backend.reset()
    loads(backend, json.dumps(document).encode())
    backend.orgs["demo"].rate_limits.enabled = False
    assert _send(app, ALERT) == 204
    assert _send(app, {**ALERT, "team": "web"}) == 201


def test_a_saved_fingerprint_reads_back_to_the_form_ingestion_makes() -> None:
    tags = {"host": "h1", "check": "cpu"}
    assert fingerprint(["ok", True, "", tags]) == ("ok", True, "", tags)
    assert fingerprint(["ok", True, "", [["check", "cpu"], ["host", "h1"]]]) == ("ok", True, "", tags)
    assert fingerprint(["ok", True, "", [["not", "a", "pair"]]]) == ("ok", True, "", (("not", "a", "pair"),))
    assert fingerprint([]) == ()
