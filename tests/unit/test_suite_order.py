"""tests/conftest.py's start order: files marked `slow(seconds=N)` first, the longest first; the
rest, and each file's own tests, in collection order."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
SUITE_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


def test_slow_files_start_first_longest_first(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SUITE_CONFTEST.read_text())
    pytester.makeini('[pytest]\nmarkers =\n    slow(seconds): long\n')
    pytester.makepyfile(
        test_a_quick="def test_one():\n    pass\n\ndef test_two():\n    pass\n",
        test_b_slow="import pytest\npytestmark = pytest.mark.slow(seconds=5)\n\n"
                    "def test_one():\n    pass\n\ndef test_two():\n    pass\n",
        test_c_quick="def test_one():\n    pass\n",
        test_d_slower="import pytest\n\n@pytest.mark.slow(seconds=30)\ndef test_one():\n    pass\n",
    )
    result = pytester.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                                          "-p", "no:faker", "-p", "no:schemathesis")  # unused: ~1 s of imports
    order = [line for line in result.outlines if "::" in line]
    assert order == ["test_d_slower.py::test_one", "test_b_slow.py::test_one", "test_b_slow.py::test_two",
                     "test_a_quick.py::test_one", "test_a_quick.py::test_two", "test_c_quick.py::test_one"]
