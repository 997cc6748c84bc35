"""A simulator stopped by SIGTERM (a CI runner, a container stop) saves its state as on Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bpsn.load.processes import child_env


@pytest.mark.e2e
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_state_file_is_written_on_either_signal(tmp_path: Path, stop: signal.Signals) -> None:
    state = tmp_path / "bigpanda.json"
    proc = subprocess.Popen([sys.executable, "-m", "bpsn.cli", "sim", "bigpanda", "--port", "0",
                             "--state-file", str(state)], env=child_env(), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" on ", 1)[1].split()[0]
        deadline = time.monotonic() + 20
        while httpx.get(f"{url}/_sim/health").status_code != 200:
            assert time.monotonic() < deadline, "not ready"
            time.sleep(0.1)
        proc.send_signal(stop)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert f"state saved to {state}" in out
    assert json.loads(state.read_text())["format"] == "bpsn-bigpanda-snapshot"
