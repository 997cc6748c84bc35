"""What the operator gets wrong, as the operator runs it: one line on stderr naming the flag or the
environment variable, exit 2; `--port 0` printing the real port; help that shows every word.

A refusal that comes while click parses the flags or a command reads its BPSN_* settings, before
anything is bound or started, runs in this process through the root command's `main`
(`refusal`): the same code path as the console script, without ~1 s of interpreter start and
imports per case, on a command tree built once (cli_invoke.py). What depends on a process of its
own stays a subprocess (`bpsn`): ports that are taken or bound, the host check, a refusal after a
socket is bound, the demo (it starts its stack before reading the setting), signals and
`--port 0`, and help as a terminal prints it.
"""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import typer
from cli_invoke import invoke, refusal

from bpsn.cli.main import app
from bpsn.load.processes import child_env

pytestmark = pytest.mark.slow(seconds=12)

ROOT = Path(__file__).resolve().parents[2]
URL = re.compile(r"http://127\.0\.0\.1:(\d+)")


def bpsn(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Runs to its end; subprocess.run kills the child if a refusal never comes."""
    return subprocess.run([sys.executable, "-m", "bpsn.cli", *args], check=False, cwd=ROOT,
                          env=child_env(**(env or {})),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def assert_one_line(result: subprocess.CompletedProcess[str], *words: str) -> str:
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def label(value: object) -> str:
    return " ".join(value) if isinstance(value, list) else str(value)


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


# --- ports -------------------------------------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.parametrize("command, flag", [
    (["sim", "bigpanda"], "--port"),
    (["sim", "servicenow"], "--port"),
    (["up", "--servicenow-port", "0"], "--bigpanda-port"),
    (["up", "--bigpanda-port", "0"], "--servicenow-port"),
], ids=["sim-bigpanda", "sim-servicenow", "up-bigpanda", "up-servicenow"])
def test_a_port_in_use_is_one_line_and_nothing_is_announced(command: list[str], flag: str, taken_port: int) -> None:
    result = bpsn(*command, flag, str(taken_port))
    assert_one_line(result, flag, str(taken_port), "in use")
    assert "http://" not in result.stdout


@pytest.mark.e2e
@pytest.mark.parametrize("command, flag, value", [
    (["sim", "bigpanda"], "--port", "-5"),
    (["sim", "servicenow"], "--port", "65536"),
    (["sim", "bigpanda"], "--port", "eighty"),
    (["up"], "--bigpanda-port", "-5"),
    (["up"], "--servicenow-port", "70000"),
], ids=label)
def test_a_port_out_of_range_is_one_line(command: list[str], flag: str, value: str) -> None:
    assert_one_line(refusal(*command, flag, value), flag)


@pytest.mark.e2e
def test_a_host_that_is_not_this_machine_is_one_line() -> None:
    assert_one_line(bpsn("sim", "servicenow", "--host", "no-such-host.invalid", "--port", "0"), "--host")


# --- other flags -------------------------------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.parametrize("command, flag, value", [
    (["up"], "--poll-interval", "-1"),
    (["core"], "--poll-interval", "-1"),
    (["demo"], "--poll-interval", "-1"),
    (["load"], "--poll-interval", "-1"),
    (["demo"], "--timeout", "0"),
    (["demo"], "--hosts", "0"),
    (["core"], "--modules", "incidents,nonsense"),
    (["core"], "--log-level", "LOUD"),
    (["core"], "--log-format", "xml"),
    (["load"], "--profile", "no-such-profile"),
    (["load"], "--workers", "-1"),
], ids=label)
def test_a_bad_flag_is_one_line(command: list[str], flag: str, value: str) -> None:
    assert_one_line(refusal(*command, flag, value), flag)


@pytest.mark.e2e
@pytest.mark.parametrize("command, flag, value", [  # the socket is bound before the file is read
    (["sim", "bigpanda", "--port", "0"], "--fixtures", "/no/such/fixtures.yaml"),
    (["sim", "servicenow", "--port", "0"], "--fixtures", "/no/such/fixtures.yaml"),
], ids=label)
def test_a_bad_flag_after_the_port_is_bound_is_one_line(command: list[str], flag: str, value: str) -> None:
    assert_one_line(bpsn(*command, flag, value), flag)


@pytest.mark.e2e
def test_an_unknown_flag_is_one_line() -> None:
    assert_one_line(refusal("up", "--bigpanda-prot", "8001"), "--bigpanda-prot")


@pytest.mark.e2e
def test_an_unknown_simulator_is_one_line() -> None:
    assert_one_line(refusal("sim", "example-fixtures", "jira"), "SIMULATOR", "jira")


# --- environment -------------------------------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.parametrize("variable, value, command", [
    ("BPSN_POLL_INTERVAL", "-1", ["core"]),
    ("BPSN_CHANGES_BATCH", "0", ["core", "--modules", "changes"]),
    ("BPSN_BP_SEED", "zz", ["load"]),
    ("BPSN_HTTP_TIMEOUT", "-1", ["selftest"]),
    ("BPSN_CMDB_PAGE_SIZE", "0", ["cmdb", "sync"]),
    ("BPSN_CHANGES_LOOKBACK_SECONDS", "-5", ["changes", "sync"]),
    ("BPSN_OIM_BATCH", "0", ["oim", "forward"]),
    ("BPSN_HTTP_TIMEOUT", "soon", ["rules", "list"]),
    ("BPSN_HTTP_TIMEOUT", "soon", ["config", "show"]),
    ("BPSN_HTTP_TIMEOUT", "soon", ["privacy", "export", "--email", "someone@example.com"]),
], ids=label)
def test_a_bad_environment_value_names_the_variable(variable: str, value: str, command: list[str]) -> None:
    line = assert_one_line(refusal(*command, env={variable: value}), variable, value)
    assert "validation error for" not in line  # pydantic's heading, which names the class and not the variable


@pytest.mark.e2e
@pytest.mark.parametrize("variable, value, command", [  # read after a socket is bound or the demo started
    ("BPSN_BP_RATE_LIMIT_ENABLED", "maybe", ["sim", "bigpanda", "--port", "0"]),
    ("BPSN_SN_DEFAULT_LIMIT", "lots", ["sim", "servicenow", "--port", "0"]),
    ("BPSN_BP_RATE_LIMIT_ENABLED", "maybe", ["up", "--bigpanda-port", "0", "--servicenow-port", "0"]),
    ("BPSN_SN_WAIT_TIMEOUT_MAX", "soon", ["demo", "--hosts", "1"]),
], ids=label)
def test_a_bad_environment_value_of_a_running_command_names_the_variable(variable: str, value: str,
                                                                          command: list[str]) -> None:
    line = assert_one_line(bpsn(*command, env={variable: value}), variable, value)
    assert "validation error for" not in line


# --- port 0 ------------------------------------------------------------------------------------

def pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)
    lines.put("")  # the end of the output


def read_ports(proc: subprocess.Popen[str], count: int, timeout: float = 60) -> list[int]:
    """The first `count` ports printed on stdout; a thread reads, so a silent child cannot hang the test."""
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=pump, args=(proc.stdout, lines), daemon=True).start()
    ports: list[int] = []
    deadline = time.monotonic() + timeout
    while len(ports) < count:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"{count} URLs not printed within {timeout:g} s") from None
        assert line, f"exited with {proc.wait()} before printing {count} URLs"
        ports += [int(p) for p in URL.findall(line)]
    return ports[:count]


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bpsn.cli", *args], cwd=ROOT, env=child_env(COLUMNS="200"),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def assert_healthy(port: int) -> None:
    assert httpx.get(f"http://127.0.0.1:{port}/_sim/health", timeout=10).status_code == 200


@pytest.mark.e2e
@pytest.mark.parametrize("simulator", ["bigpanda", "servicenow"])
def test_port_zero_prints_the_real_port(simulator: str) -> None:
    proc = start("sim", simulator, "--port", "0")
    try:
        (port,) = read_ports(proc, 1)
        assert port != 0
        assert_healthy(port)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        stop(proc)


@pytest.mark.e2e
def test_up_on_port_zero_prints_both_real_ports() -> None:
    proc = start("up", "--bigpanda-port", "0", "--servicenow-port", "0", "--poll-interval", "60")
    try:
        ports = set(read_ports(proc, 4))  # each simulator's URL and its OpenAPI address
        assert len(ports) == 2 and 0 not in ports
        for port in ports:
            assert_healthy(port)
    finally:
        stop(proc)


# --- help --------------------------------------------------------------------------------------

def command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from command_paths(sub, (*path, name))


COMMANDS = list(command_paths(typer.main.get_command(app)))
BRACKETED = re.compile(r"\[[^\]\n]*\]")


def flat(text: str) -> str:
    return " ".join(text.split())


def source_texts(command: Any) -> list[str]:
    """The help the source gives: the command's and each parameter's."""
    texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
    return [flat(t) for t in texts if t]


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) or "bpsn" for p, _ in COMMANDS])
def test_help_shows_every_word(path: tuple[str, ...], command: Any) -> None:
    result = invoke(app, [*path, "--help"], env={"COLUMNS": "200"}, terminal_width=200)
    shown = flat(result.output)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "<bool>" not in result.output and "…" not in result.output
    for text in source_texts(command):
        assert text in shown, f"{text!r} is not shown whole"
        for bracketed in BRACKETED.findall(text):
            assert bracketed in shown
    for sub in getattr(command, "commands", {}).values():
        assert flat(sub.get_short_help_str(10_000)) in shown  # the summary is wrapped, not cut with "..."


@pytest.mark.e2e
@pytest.mark.parametrize("command, expected", [
    (["sim", "servicenow"], "{tables: {table: [record, ...]}}"),
    (["load"], "(default results/load/<timestamp>-<profile>)"),
])
def test_help_as_printed_in_a_terminal(command: list[str], expected: str) -> None:
    result = bpsn(*command, "--help", env={"COLUMNS": "200"})
    assert result.returncode == 0 and expected in flat(result.stdout), result.stdout
    assert "<bool>" not in result.stdout and "…" not in result.stdout
