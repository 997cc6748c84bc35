"""`bpsn up --state-file FILE`: both simulators' state in one file, saved on shutdown, loaded at start.

The file is one JSON document, `{"format": "bpsn-stack-state", "version": 1, "bigpanda": {...},
"servicenow": "<base64>"}`: BigPanda's part is its own snapshot document (credentials sealed, as
`bpsn sim bigpanda --state-file` writes it), ServiceNow's is a copy of its SQLite store (as its
snapshots are), checked the same way before it is used. The core keeps nothing of its own: what
it knows lives in the two systems (shares, tickets, correlation ids), so a restarted stack goes
on where it stopped. Not in the file, as in either simulator's snapshot: the clock, journals,
fault rules and rate-limit counters. Written atomically and readable by its owner only.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bpsn.simulator.bigpanda.admin import snapshot as bigpanda_snapshot
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.errors import BpError
from bpsn.simulator.servicenow.admin.state import check_snapshot_file
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.errors import SnError

FORMAT, VERSION = "bpsn-stack-state", 1


class StateFileError(ValueError):
    """The file cannot be read or written, or is not a stack state this version understands."""


def save(path: str | os.PathLike[str], bigpanda: BigPandaBackend, servicenow: ServiceNowBackend) -> None:
    target = Path(path)
    with tempfile.TemporaryDirectory(prefix="bpsn-state-") as scratch:
        store_copy = Path(scratch) / "servicenow.sqlite"
        servicenow.store.backup_to(str(store_copy))
        document = {"format": FORMAT, "version": VERSION,
                    "bigpanda": json.loads(bigpanda_snapshot.dumps(bigpanda)),
                    "servicenow": base64.b64encode(store_copy.read_bytes()).decode("ascii")}
    temporary = target.with_name(target.name + ".tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(document, out, separators=(",", ":"))
        os.replace(temporary, target)  # a crash mid-write leaves the previous file as it was
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StateFileError(f"cannot write {target}: {exc.strerror or exc}") from None


def load(path: str | os.PathLike[str], bigpanda: BigPandaBackend, servicenow: ServiceNowBackend) -> None:
    """Both parts are checked before either simulator changes; a bad file is a StateFileError."""
    source = Path(path)
    document = _document(source)
    bp_data = json.dumps(document["bigpanda"]).encode()
    try:
        sqlite_bytes = base64.b64decode(document["servicenow"], validate=True)
    except (binascii.Error, ValueError):
        raise StateFileError(f"{source}: 'servicenow' is not base64") from None
    with tempfile.TemporaryDirectory(prefix="bpsn-state-") as scratch:
        store_copy = Path(scratch) / "servicenow.sqlite"
        store_copy.write_bytes(sqlite_bytes)
        try:
            check_snapshot_file(store_copy)  # ServiceNow's part first: checked, not yet used
            bigpanda_snapshot.loads(bigpanda, bp_data, f"{source} (bigpanda)")  # checked whole, then applied
            servicenow.store.restore_from(str(store_copy))
            servicenow.restored()
        except SnError as exc:
            raise StateFileError(f"{source} (servicenow): {exc.message}: {exc.detail}") from None
        except BpError as exc:
            raise StateFileError(str(exc)) from None


def _document(source: Path) -> dict[str, Any]:
    try:
        raw = json.loads(source.read_bytes())
    except OSError as exc:
        raise StateFileError(f"cannot read {source}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise StateFileError(f"{source} is not a bpsn up state file (not JSON: {exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise StateFileError(f"{source} is not a bpsn up state file (format {FORMAT!r} expected)")
    if raw.get("version") != VERSION:
        raise StateFileError(f"{source} is version {raw.get('version')!r}; this bpsn reads version {VERSION}")
    missing = [key for key in ("bigpanda", "servicenow") if key not in raw]
    if missing or not isinstance(raw["bigpanda"], dict) or not isinstance(raw["servicenow"], str):
        raise StateFileError(f"{source}: expected 'bigpanda' (an object) and 'servicenow' (base64 text)")
    return raw
