"""The CI recipes in examples/ci/: valid for GitHub Actions and GitLab CI, and doing what they promise.

Both files are checked against SchemaStore's schemas as check-jsonschema ships them (vendored in
its wheel: no network), every shell step is parsed by bash, and each recipe is read for the steps
it must have: install bpsn, start `bpsn up` in the background, `bpsn wait`, the features with
JUnit and cucumber reports, the load smoke, and the reports uploaded even when a step failed.
actionlint runs too when an `actionlint` binary is on PATH (none is installable from the package
registries this project uses: see README, "Use bpsn in your own tests").
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / "examples" / "ci" / "github-actions.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab-ci.yml"


def _schema_check(path: Path, schema: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True, timeout=120, check=False)


def _bash_syntax(script: str) -> str:
    """bash's verdict on a step's script without running it ('' when it parses)."""
    parsed = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=30, check=False)
    return parsed.stderr


def _github_steps() -> list[dict[str, Any]]:
    workflow = yaml.safe_load(GITHUB.read_text())
    return list(workflow["jobs"]["acceptance"]["steps"])


def _step(steps: list[dict[str, Any]], needle: str) -> dict[str, Any]:
    found = [s for s in steps if needle in s.get("run", "") or needle in s.get("uses", "")]
    assert len(found) == 1, f"one step with {needle!r} expected, found {len(found)}"
    return found[0]


@pytest.mark.parametrize(("path", "schema"), [(GITHUB, "vendor.github-workflows"), (GITLAB, "vendor.gitlab-ci")],
                         ids=["github", "gitlab"])
def test_the_recipe_is_valid_for_its_ci_system(path: Path, schema: str) -> None:
    checked = _schema_check(path, schema)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The check above can fail: a misspelt key and a job without runs-on are refused."""
    broken = yaml.safe_load(GITHUB.read_text())
    job = broken["jobs"]["acceptance"]
    job["step"] = job.pop("steps")
    del job["runs-on"]
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(broken))
    assert _schema_check(path, "vendor.github-workflows").returncode != 0


def test_every_github_shell_step_parses() -> None:
    for step in _github_steps():
        if "run" in step:
            assert _bash_syntax(step["run"]) == "", step


def test_the_github_workflow_runs_the_stack_the_suites_and_uploads_the_reports() -> None:
    steps = _github_steps()
    names = [s.get("uses", "").split("@")[0] or s["run"] for s in steps]
    order = [next(i for i, n in enumerate(names) if needle in n) for needle in (
        "actions/checkout", "actions/setup-python", "pip install", "bpsn up", "bpsn wait", "pytest",
        "bpsn load --profile smoke", "actions/upload-artifact")]
    assert order == sorted(order), names
    up = _step(steps, "bpsn up")["run"]
    assert "nohup bpsn up" in up and "&\n" in up and "$GITHUB_ENV" in up  # in the background; its pid kept
    assert "--no-core" in up  # the tests run the core: the service is the two simulators
    pytest_step = _step(steps, "pytest")
    tests = pytest_step["run"]
    assert "--junitxml=results/junit.xml" in tests and "--cucumberjson=results/cucumber.json" in tests
    assert pytest_step["env"] == {"BPSN_REMOTE_BIGPANDA_URL": "http://127.0.0.1:8001",
                                  "BPSN_REMOTE_SERVICENOW_URL": "http://127.0.0.1:8002"}
    assert " -n " not in tests  # the cucumber report is empty under xdist
    assert "--out results/load" in _step(steps, "bpsn load")["run"]
    stop = _step(steps, "kill -TERM")
    upload = _step(steps, "actions/upload-artifact")
    assert stop["if"] == "always()" and upload["if"] == "always()"
    assert upload["with"]["path"] == "${{ env.PROJECT_DIR }}/results/"
    workflow = yaml.safe_load(GITHUB.read_text())
    job = workflow["jobs"]["acceptance"]
    assert job["defaults"]["run"]["working-directory"] == job["env"]["PROJECT_DIR"]
    assert (ROOT / job["env"]["PROJECT_DIR"] / "requirements.txt").is_file()


def test_the_gitlab_job_runs_the_stack_the_suites_and_keeps_the_reports() -> None:
    pipeline = yaml.safe_load(GITLAB.read_text())
    job = pipeline["acceptance"]
    assert job["stage"] in pipeline["stages"]
    before, script = job["before_script"], job["script"]
    for line in before + script + job["after_script"]:
        assert _bash_syntax(line) == "", line
    assert any(line.startswith("python -m pip install") for line in before)
    assert any(line.startswith("nohup bpsn up --no-core") and line.rstrip().endswith("&") for line in before)
    assert job["variables"]["BPSN_REMOTE_BIGPANDA_URL"] == "http://127.0.0.1:8001"
    assert job["variables"]["BPSN_REMOTE_SERVICENOW_URL"] == "http://127.0.0.1:8002"
    assert any(line.startswith("bpsn wait") for line in before)
    assert any("--junitxml=results/junit.xml" in line and "--cucumberjson=results/cucumber.json" in line
               for line in script)
    assert any(line.startswith("bpsn load --profile smoke --out results/load") for line in script)
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always"
    assert artifacts["paths"] == ["$PROJECT_DIR/results/"]
    assert artifacts["reports"]["junit"] == "$PROJECT_DIR/results/junit.xml"
    assert (ROOT / job["variables"]["PROJECT_DIR"] / "requirements.txt").is_file()


def test_actionlint_when_it_is_installed() -> None:
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.skip("no actionlint on PATH: the official build is not on PyPI or npm (see README)")
    linted = subprocess.run([actionlint, "-no-color", str(GITHUB)], capture_output=True, text=True, timeout=120,
                            check=False)
    assert linted.returncode == 0, linted.stdout + linted.stderr
