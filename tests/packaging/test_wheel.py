"""The wheel, as a user gets it: built from this checkout, installed with its [test] extra into a
fresh virtual environment outside the checkout, and used from a project that has its own
`integration/` and `simulator/` packages (a common layout that must never collide with ours).

The fresh environment gets its dependencies from the one running these tests, linked rather than
installed again (that was most of this file's time): pip still resolves the wheel's own
requirements, [test] included, against them with --no-index, so a requirement the wheel declares
wrongly, or one that is missing, still fails the install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.packaging, pytest.mark.slow(seconds=40)]

# Run in the fresh environment: every public module imports, and the distribution's file list
# holds no top-level name but bpsn (its metadata and the `bpsn` script aside).
CHECK_INSTALL = textwrap.dedent('''
    import importlib, importlib.metadata, pkgutil, sys
    import bpsn, integration, simulator
    assert integration.MINE and simulator.MINE  # the user's own packages, untouched
    skip = ("__main__", "locustfile", "ticket_watch")
    names = [m.name for m in pkgutil.walk_packages(bpsn.__path__, "bpsn.") if not m.name.endswith(skip)]
    for name in names:
        importlib.import_module(name)
    files = importlib.metadata.distribution("bpsn").files
    tops = {f.parts[0] for f in files if not f.parts[0].startswith("..")}
    extra = sorted(t for t in tops if t != "bpsn" and not t.endswith(".dist-info"))
    assert not extra, extra
    assert not any("site-packages" in p and p.endswith(("/integration", "/simulator")) for p in sys.path)
    data = [f for f in files if str(f).endswith((".yaml", ".md")) or f.name == "locustfile.py"]
    print(len(names), "modules;", ", ".join(sorted(str(f) for f in data)))
''')


# Run in the fresh environment: the API docs' assets (fastapi-offline) and the dashboard's page and
# assets (package data) are served by both simulators as installed from the wheel.
CHECK_PAGES = textwrap.dedent('''
    from fastapi.testclient import TestClient
    from bpsn.simulator.bigpanda.app import create_app as bigpanda
    from bpsn.simulator.servicenow.app import create_app as servicenow
    pages = {"/docs/assets/swagger-ui-bundle.js": "javascript", "/docs/assets/redoc.standalone.js": "javascript",
             "/docs/assets/swagger-ui.css": "css", "/docs": "html", "/redoc": "html", "/": "html",
             "/_sim/dashboard/assets/dashboard.js": "javascript", "/_sim/dashboard/assets/dashboard.css": "css"}
    for create in (bigpanda, servicenow):
        client = TestClient(create())
        for path, kind in pages.items():
            r = client.get(path)
            assert r.status_code == 200 and kind in r.headers["content-type"] and r.content, (path, r.status_code)
    print("docs and dashboard served")
''')


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def fresh_venv_on_these_dependencies(work: Path) -> Path:
    """A new virtual environment (its bin folder) that sees every distribution installed beside the
    running interpreter except bpsn itself, through a folder of links named in a .pth file; none of
    their .pth files run (the editable install's finder among them), so bpsn can only come from the wheel."""
    linked = work / "dependencies"
    linked.mkdir()
    for site in {Path(sysconfig.get_path("purelib")), Path(sysconfig.get_path("platlib"))}:
        for entry in site.iterdir():
            name = entry.name
            if name.startswith(("bpsn", "__editable__")) or name.endswith(".pth") or name == "__pycache__":
                continue
            if not (linked / name).exists():
                (linked / name).symlink_to(entry)
    venv.EnvBuilder(with_pip=False).create(work / "venv")
    purelib = sysconfig.get_path("purelib", vars={"base": str(work / "venv"), "platbase": str(work / "venv")})
    (Path(purelib) / "bpsn-test-dependencies.pth").write_text(f"{linked}\n")
    return work / "venv" / "bin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, dict[str, str]]]:
    """(the venv's bin folder, the user's project folder, the environment to run in)."""
    work = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    source = work / "source"  # a clean copy: a build/ folder left in the checkout could carry stale modules
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "results", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis"))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(work / "dist"), str(source)],
        cwd=work, env=env, timeout=300)
    wheel = next((work / "dist").glob("bpsn-*.whl"))
    bin_dir = fresh_venv_on_these_dependencies(work)
    run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheel.parent),
         "bpsn[test]"], cwd=work, env=env, timeout=600)
    project = work / "user-project"
    for package in ("integration", "simulator"):
        (project / package).mkdir(parents=True)
        (project / package / "__init__.py").write_text("MINE = True\n")
        (project / package / "config.py").write_text("OWN = 'the user project'\n")
    env = {**env, "PYTHONPATH": str(project), "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}
    yield bin_dir, project, env


def test_every_public_module_imports_beside_the_users_own_packages(installed: tuple[Path, Path, dict[str, str]]) -> None:
    bin_dir, project, env = installed
    out = run([str(bin_dir / "python"), "-c", CHECK_INSTALL], cwd=project, env=env, timeout=120)
    for shipped in ("bpsn/loadtests/profiles.yaml", "bpsn/loadtests/locustfile.py",
                    "bpsn/simulator/bigpanda/admin/fixtures.example.yaml",
                    "bpsn/simulator/servicenow/admin/fixtures.example.yaml",
                    "bpsn/simulator/servicenow/records/dictionary.yaml", "bpsn/simulator/servicenow/security/acls.yaml",
                    "bpsn/simulator/servicenow/import_sets/transform_maps.yaml"):
        assert shipped in out, out
    steps = run([str(bin_dir / "python"), "-c", "import bpsn.steps.common, bpsn.steps.tag_sync; print('steps')"],
                cwd=project, env=env, timeout=60)
    assert "steps" in steps


def test_docs_and_dashboard_assets_are_served_from_the_wheel(installed: tuple[Path, Path, dict[str, str]]) -> None:
    bin_dir, project, env = installed
    assert "docs and dashboard served" in run([str(bin_dir / "python"), "-c", CHECK_PAGES], cwd=project, env=env,
                                              timeout=120)


def test_the_demo_runs_from_the_wheel(installed: tuple[Path, Path, dict[str, str]]) -> None:
    bin_dir, project, env = installed
    out = run([str(bin_dir / "bpsn"), "demo", "--hosts", "5", "--timeout", "30"], cwd=project, env=env, timeout=120)
    assert "OK: every BigPanda incident became exactly one ServiceNow incident" in out, out


def test_a_load_smoke_runs_from_the_wheel(installed: tuple[Path, Path, dict[str, str]]) -> None:
    bin_dir, project, env = installed
    out_dir = project / "load-results"
    out = run([str(bin_dir / "bpsn"), "load", "--profile", "smoke", "--out", str(out_dir)],
              cwd=project, env=env, timeout=240)
    assert (out_dir / "summary.json").is_file(), out


def test_the_example_fixtures_print_from_the_wheel(installed: tuple[Path, Path, dict[str, str]]) -> None:
    bin_dir, project, env = installed
    for simulator in ("bigpanda", "servicenow"):
        text = run([str(bin_dir / "bpsn"), "sim", "example-fixtures", simulator], cwd=project, env=env, timeout=60)
        assert text.startswith("#") and ("organizations" in text or "tables" in text), text[:200]


def test_the_example_user_project_passes_from_its_own_folder(installed: tuple[Path, Path, dict[str, str]],
                                                             tmp_path: Path) -> None:
    """examples/user-project, as a user runs it: its tests and features on the plugin, its script."""
    bin_dir, _, env = installed
    project = tmp_path / "user-project"
    shutil.copytree(ROOT / "examples" / "user-project", project)
    env = {**env, "PYTHONPATH": ""}
    (project / "results").mkdir()  # pytest-bdd writes its cucumber report into a folder that exists
    out = run([str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "--junitxml=results/junit.xml", "--cucumberjson=results/cucumber.json"], cwd=project, env=env, timeout=300)
    assert "5 passed" in out, out
    assert (project / "results" / "junit.xml").is_file() and (project / "results" / "cucumber.json").is_file()
    smoke = run([str(bin_dir / "python"), "scripts/smoke.py"], cwd=project, env=env, timeout=120)
    assert "1 ticket created" in smoke, smoke
