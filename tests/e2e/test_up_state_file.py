"""`bpsn up --state-file`'s file, in-process: a round trip keeps both simulators' data; a damaged
file is refused whole, before either simulator changes."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from bpsn.base.clock import SimClock
from bpsn.cli import stack_state
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.servicenow.backend import ServiceNowBackend


@pytest.fixture
def backends() -> tuple[BigPandaBackend, ServiceNowBackend]:
    clock = SimClock.virtual()
    return BigPandaBackend(clock=clock), ServiceNowBackend(clock=clock)


def _org_names(bp: BigPandaBackend) -> set[str]:
    return set(bp.orgs)


def _incident_count(sn: ServiceNowBackend) -> int:
    _, total = sn.query("incident", "", limit=1, offset=0)
    return int(total or 0)


def test_a_round_trip_keeps_both_simulators_data(tmp_path: Path,
                                                 backends: tuple[BigPandaBackend, ServiceNowBackend]) -> None:
    bp, sn = backends
    bp.add_organization("acme", "acme-org-token", {"BPUacme-key": "a@acme.example.com"}, {"alerts": "acme-alerts"},
                        {}, seed_environment=True)
    sn.insert_system("incident", {"short_description": "kept across a restart"})
    path = tmp_path / "state.json"
    stack_state.save(path, bp, sn)
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    clock = SimClock.virtual()
    bp2, sn2 = BigPandaBackend(clock=clock), ServiceNowBackend(clock=clock)
    assert "acme" not in _org_names(bp2)
    stack_state.load(path, bp2, sn2)
    assert "acme" in _org_names(bp2)
    assert _incident_count(sn2) == _incident_count(sn)
    assert "acme-org-token" not in path.read_text()  # BigPanda's credentials are sealed, as in its snapshots


@pytest.mark.parametrize("damage", ["not-base64", "not-sqlite", "bad-bigpanda", "version"])
def test_a_damaged_file_changes_neither_simulator(tmp_path: Path, damage: str,
                                                  backends: tuple[BigPandaBackend, ServiceNowBackend]) -> None:
    bp, sn = backends
    path = tmp_path / "state.json"
    stack_state.save(path, bp, sn)
    document = json.loads(path.read_text())
    if damage == "not-base64":
        document["servicenow"] = "%%% not base64 %%%"
    elif damage == "not-sqlite":
        document["servicenow"] = base64.b64encode(b"plain text, not a database").decode()
    elif damage == "bad-bigpanda":
        document["bigpanda"]["organizations"] = "not a list"
    else:
        document["version"] = 99
    path.write_text(json.dumps(document))

    orgs_before, incidents_before = _org_names(bp), _incident_count(sn)
    sn.insert_system("incident", {"short_description": "made after the save"})
    with pytest.raises(stack_state.StateFileError) as refused:
        stack_state.load(path, bp, sn)
    assert str(path) in str(refused.value)
    assert _org_names(bp) == orgs_before
    assert _incident_count(sn) == incidents_before + 1  # the instance was not replaced
