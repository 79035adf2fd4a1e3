"""The source distribution is complete: unpacked anywhere, it holds its tests and everything
they import or read (conftest.py, tests/admin_api.py, tests/examples/, tox.ini), the README,
docs/, bench/ and the LICENSE that its metadata names."""

from __future__ import annotations

import email.parser
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARRIED = ("LICENSE", "README.md", "tox.ini", "pyproject.toml", "tests/conftest.py")


# Not the source: what a checkout or a build leaves. An old *.egg-info above all, whose file
# list setuptools would reuse, hiding a file MANIFEST.in no longer carries.
LEFT_BEHIND = shutil.ignore_patterns(
    ".git", ".venv", ".tox", "*.egg-info", "build", "dist", "__pycache__", "*_cache", "results"
)


def build_sdist(out: Path, work: Path) -> Path:
    """The sdist of a clean copy of this tree."""
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=LEFT_BEHIND, symlinks=True)
    # Without isolation: the backend comes from the test extra, so this needs no network.
    done = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out)],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [sdist] = out.glob("*.tar.gz")
    return sdist


def unpack(sdist: Path, into: Path) -> Path:
    with tarfile.open(sdist) as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(into, filter="data")
        else:  # Python before 3.11.4: our own archive, just built
            archive.extractall(into)
    [unpacked] = into.iterdir()
    return unpacked


def test_the_sdist_carries_its_tests_and_collects_them(tmp_path: Path) -> None:
    unpacked = unpack(build_sdist(tmp_path / "dist", tmp_path), tmp_path / "src")
    for name in CARRIED:
        assert (unpacked / name).is_file(), name
    for folder in ("tests", "docs", "bench"):
        wanted = {
            p.relative_to(ROOT)
            for p in (ROOT / folder).rglob("*")
            # bench/.venv: the peers' environment `bench/run.py --peer` makes (git-ignored)
            if p.is_file() and not {"__pycache__", "results", ".venv"} & set(p.parts)
        }
        carried = {p.relative_to(unpacked) for p in (unpacked / folder).rglob("*") if p.is_file()}
        assert wanted <= carried, sorted(wanted - carried)

    metadata = email.parser.Parser().parsestr((unpacked / "PKG-INFO").read_text("utf-8"))
    assert metadata["License-Expression"] == "MIT"
    assert metadata["License-File"] == "LICENSE"

    # The unpacked tree first on the path: its `emulator` and `tests`, not this checkout's.
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=unpacked,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert "error" not in summary, summary
    assert int(summary.split()[0]) > 700, summary
    assert str(unpacked / "tests") in done.stdout or "tests/test_cli.py" in done.stdout
