"""`heavy` marks exactly the tests that install a real program on first use (Chromium with
apt-get, Claude Code and Codex CLI with npm), so `pytest -m "not heavy"` runs the rest offline.
Checked by collecting the suite as a contributor would, in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ["tests/test_dashboard.py", "tests/test_real_tools.py"]


def collected(*args: str) -> set[str]:
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [*command, "-p", "no:xdist", *args, *MODULES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return {line for line in done.stdout.splitlines() if "::" in line}


def test_heavy_selects_the_browser_and_real_tool_tests_only() -> None:
    heavy = collected("-m", "heavy")
    light = collected("-m", "not heavy")
    assert heavy and light and not heavy & light
    assert {n for n in heavy | light if n.startswith("tests/test_real_tools.py")} <= heavy
    # The usage page's browser tests install Chromium; its plain HTTP tests do not.
    assert "tests/test_dashboard.py::test_page_follows_requests_and_buys_a_pack" in heavy
    assert any(n.startswith("tests/test_dashboard.py::test_page_and_static_files") for n in light)
    assert "tests/test_dashboard.py::test_status_prints_the_overview_table" in light


def test_the_marker_is_registered() -> None:
    """A registered marker: `--strict-markers` accepts it and `pytest --markers` documents it."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--markers", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "@pytest.mark.heavy:" in done.stdout
