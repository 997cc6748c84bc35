"""bpsn's pytest plugin: on as soon as bpsn is installed (the `pytest11` entry point).

Fixtures (names users' suites depend on; kept stable):
- `bpsn_bench`: both simulators and the core in-process, no ports (bpsn.testing.InProcessBench).
- `bpsn_stack`: both simulators as real HTTP servers on loopback ports, and the core, in a
  background thread of the test process (bpsn.harness.servers.ServerStack).
- `bpsn_config`: the configuration a test runs with (bpsn.harness.config.BenchConfig): the
  `--bpsn-settings` file, then every `@pytest.mark.bpsn(...)` on the test, its class and module,
  nearest last. Override the fixture to build your own.
Each is built once per pytest process and reset before every test that uses it: data, clock,
fault rules, journals and the core's memory start from the seeded state, configured.

With `--bpsn-remote-bigpanda URL --bpsn-remote-servicenow URL` (or $BPSN_REMOTE_BIGPANDA_URL and
$BPSN_REMOTE_SERVICENOW_URL), both fixtures are a stack started elsewhere (`bpsn up --no-core`)
instead (bpsn.harness.remote.RemoteStack); the core still runs in the test process.

The Gherkin step library (bpsn.steps) is registered too: a feature file of your own can use
any step with nothing but `scenarios("my.feature")` in a test module.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bpsn.harness.config import BenchConfig, ConfigError, from_marker

SETTINGS_ENV = "BPSN_SETTINGS"
REMOTE_ENV = {"bigpanda": "BPSN_REMOTE_BIGPANDA_URL", "servicenow": "BPSN_REMOTE_SERVICENOW_URL"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bpsn", "bpsn: the BigPanda <-> ServiceNow test bench")
    group.addoption("--bpsn-settings", default=None, metavar="FILE",
                    help="YAML settings for the core in every test, in the shape `bpsn config` stores "
                         f"(default: ${SETTINGS_ENV}, else the built-in defaults).")
    for side, name in (("bigpanda", "BigPanda"), ("servicenow", "ServiceNow")):
        group.addoption(f"--bpsn-remote-{side}", default=None, metavar="URL",
                        help=f"Run bpsn_bench and bpsn_stack against the {name} simulator of a stack started "
                             f"elsewhere (`bpsn up --no-core`); give both URLs (default: ${REMOTE_ENV[side]}).")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "bpsn(settings_file=None, *, settings={}, incidents={}, tag_mappings=[], alert_config={}, "
                   "rules=[], fixtures=None): configure the bpsn core and seed data for this test")


def _base_config(config: pytest.Config) -> BenchConfig:
    path = config.getoption("--bpsn-settings") or os.environ.get(SETTINGS_ENV)
    if not path:
        return BenchConfig()
    try:
        return BenchConfig.build(settings_file=path, root=Path(config.invocation_params.dir))
    except ConfigError as exc:
        raise pytest.UsageError(f"bpsn: {exc}") from None


@pytest.fixture
def bpsn_config(request: pytest.FixtureRequest) -> BenchConfig:
    """The configuration for this test: the settings file, then its `bpsn` markers."""
    config = _base_config(request.config)
    root = Path(str(request.path)).parent
    for marker in reversed(list(request.node.iter_markers("bpsn"))):  # module, class, then the test
        try:
            config = from_marker(marker.args, marker.kwargs, config, root)
        except ConfigError as exc:
            pytest.fail(f"bpsn marker: {exc}", pytrace=False)
    return config


def _remote_urls(config: pytest.Config) -> tuple[str, str] | None:
    """The remote stack's two URLs, when the run targets one."""
    urls = {side: config.getoption(f"--bpsn-remote-{side}") or os.environ.get(env) or None
            for side, env in REMOTE_ENV.items()}
    if not any(urls.values()):
        return None
    missing = [f"--bpsn-remote-{side} (or ${REMOTE_ENV[side]})" for side, url in urls.items() if not url]
    if missing:
        raise pytest.UsageError(f"bpsn: a remote stack needs both URLs; missing {', '.join(missing)}")
    return urls["bigpanda"], urls["servicenow"]


@contextlib.contextmanager
def _remote_or(config: pytest.Config, build_local: Any) -> Iterator[Any]:
    urls = _remote_urls(config)
    if urls is None:
        harness = build_local()
    else:
        from bpsn.harness.remote import RemoteStack, RemoteStackError
        try:
            harness = RemoteStack(*urls)
        except RemoteStackError as exc:
            raise pytest.UsageError(f"bpsn: the remote stack: {exc}") from None
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture(scope="session")
def _bpsn_bench_pool(pytestconfig: pytest.Config) -> Iterator[Any]:
    def in_process() -> Any:
        from bpsn.testing import InProcessBench
        return InProcessBench()
    with _remote_or(pytestconfig, in_process) as bench:
        yield bench


@pytest.fixture
def bpsn_bench(_bpsn_bench_pool: Any, bpsn_config: BenchConfig) -> Any:
    """Both simulators and the core, in-process; the seeded state, configured, for this test."""
    _bpsn_bench_pool.reset(bpsn_config)
    return _bpsn_bench_pool


@pytest.fixture(scope="session")
def _bpsn_stack_servers(pytestconfig: pytest.Config) -> Iterator[Any]:
    def servers() -> Any:
        from bpsn.harness.servers import ServerStack
        return ServerStack()
    with _remote_or(pytestconfig, servers) as stack:
        yield stack


@pytest.fixture
def bpsn_stack(_bpsn_stack_servers: Any, bpsn_config: BenchConfig) -> Any:
    """Both simulators as HTTP servers on loopback, and the core; the seeded state, configured."""
    _bpsn_stack_servers.reset(bpsn_config)
    return _bpsn_stack_servers


if importlib.util.find_spec("pytest_bdd") is not None:  # the step library needs pytest-bdd ([test] extra)
    from bpsn.steps.library import *  # noqa: E402,F401,F403 - registered with the plugin
