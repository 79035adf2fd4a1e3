"""The documentation runs as written: every fenced Python and shell block of README.md is run
against a live emulator, every YAML example of the docs is a valid scenario file, and every
admin endpoint the server has is listed in the README.

How a block is run (also written in the README's Development section):
- Python blocks with this interpreter, as a script in an empty temporary folder; a block that
  defines `test_` functions is run with pytest there instead (it is a test to copy).
- Shell blocks (`sh`, `bash`) with `bash -e`, with this interpreter first on PATH as `python`.
- `<!-- readme: not-run REASON -->` on the line before a fence leaves the block out, and says why.
- `<!-- readme: serves -->` marks a block whose last command starts a server: the commands
  before it run first, then the server until its banner and a healthy `/_emulator/health`,
  and SIGTERM stops it.
- Every fence names its language; `text`, `toml`, `yaml` and `json` blocks are not run (YAML
  blocks are validated with `python -m emulator check`).

The README's blocks use the default address, 127.0.0.1:8765. The test's emulator listens on a
free port instead (8765 may be taken on a shared machine or in CI, and pytest-xdist runs two
workers), so `localise` rewrites each block's 8765 to the live port before running it, tells
`python -m emulator env` that port, and gives a server a block starts a free port of its own.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator.cli import banner
from emulator.config import Config, load_scenario, scenario_names
from emulator.runtime import Runtime
from emulator.server import build_app
from emulator.testing import TokenPlan

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
RUN = ("python", "sh", "bash")
NOT_RUN = ("text", "toml", "yaml", "json")
MARKER = re.compile(r"^<!-- readme: (not-run|serves)(?: (.*?))? -->$")
DEFAULT_PORT = "8765"
BLOCK_TIMEOUT = 180.0  # the Agents SDK and dashscope's task polling are the slow ones
BANNER_TIMEOUT = 15.0


@dataclass(frozen=True)
class Block:
    source: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    mode: str  # "run", "not-run" or "serves"
    reason: str = ""

    @property
    def where(self) -> str:
        return f"{self.source.name}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, with the marker on the line before each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.lstrip().startswith("```"):
            index += 1
            continue
        assert line.startswith("```"), f"{path.name}:{index + 1}: an indented fence: {line!r}"
        language = line[3:].strip()
        end = next((i for i in range(index + 1, len(lines)) if lines[i].startswith("```")), None)
        assert end is not None, f"{path.name}:{index + 1}: a fence that is never closed"
        previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marker = MARKER.match(previous.strip())
        mode, reason = (marker[1], marker[2] or "") if marker else ("run", "")
        text = "\n".join(lines[index + 1 : end]) + "\n"
        blocks.append(Block(path, index + 1, language, text, mode, reason))
        index = end + 1
    return blocks


def runnable(mode: str) -> list[Block]:
    return [b for b in fenced_blocks(README) if b.language in RUN and b.mode == mode]


def localise(text: str, port: int) -> str:
    """The block as it must run against the test's emulator (see the module's docstring)."""
    text = text.replace(f"127.0.0.1:{DEFAULT_PORT}", f"127.0.0.1:{port}")
    return re.sub(r"python -m emulator env\b", f"python -m emulator env --port {port}", text)


def clean_env(bin_dir: Path) -> dict[str, str]:
    """The caller's environment without SDK settings that could leak in, `python` first."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OPENAI_", "ANTHROPIC_", "DASHSCOPE_", "PYTEST_"))
    }
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def bin_with_python(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    # A script, not a symlink: a virtual environment's interpreter finds its packages only when
    # run by its own path.
    python = folder / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', encoding="utf-8")
    python.chmod(0o755)
    return folder


def command_for(block: Block, script: Path) -> list[str]:
    if block.language != "python":
        return ["bash", "-e", str(script)]
    if re.search(r"^(async )?def test_", block.text, re.MULTILINE):
        return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(script)]
    return [sys.executable, str(script)]


# ---- the blocks' labels and markers ---------------------------------------------------------


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.name)
def test_every_fence_names_a_known_language(path: Path) -> None:
    """An unlabelled block would escape the runner: every fence says what it holds."""
    for block in fenced_blocks(path):
        assert block.language in RUN + NOT_RUN, (
            f"{block.where}: fence language {block.language!r}; use one of {RUN + NOT_RUN}"
        )
        if block.mode != "run":
            assert block.source == README and block.language in RUN, (
                f"{block.where}: a `readme:` marker belongs before a README Python or shell block"
            )
        if block.mode == "not-run":
            assert block.reason, f"{block.where}: `readme: not-run` needs a reason"


def test_markers_stand_before_fences_only() -> None:
    """A marker separated from its block by text would silently mark nothing."""
    lines = README.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if line.strip().startswith("<!-- readme:"):
            assert MARKER.match(line.strip()), f"README.md:{number}: malformed marker {line!r}"
            following = next((x for x in lines[number:] if x.strip()), "")
            assert following.startswith("```"), f"README.md:{number}: marker before no fence"


def test_the_readme_has_blocks_of_each_kind() -> None:
    """The runner is not vacuous: Python scripts, a pytest example, shell and a server run."""
    run = runnable("run")
    assert sum(b.language == "python" for b in run) >= 5
    assert any("def test_" in b.text for b in run)
    assert sum(b.language in ("sh", "bash") for b in run) >= 3
    assert runnable("serves")


# ---- running them -------------------------------------------------------------------------


@pytest.mark.parametrize("block", runnable("run"), ids=lambda b: b.where)
def test_readme_block_runs_as_pasted(block: Block, token_plan: TokenPlan, tmp_path: Path) -> None:
    """The block succeeds against the default scenario, from an empty folder."""
    port = int(token_plan.url.rsplit(":", 1)[1])
    script = tmp_path / ("block.py" if block.language == "python" else "block.sh")
    script.write_text(localise(block.text, port), encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        command_for(block, script),
        cwd=work,
        env=clean_env(bin_with_python(tmp_path)),
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    output = f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert done.returncode == 0, f"{block.where} failed (exit {done.returncode}):\n{output}"
    if command_for(block, script)[1:3] == ["-m", "pytest"]:
        assert re.search(r"\b\d+ passed\b", done.stdout), output
        assert not re.search(r"\b(failed|skipped|error)\b", done.stdout), output


@pytest.mark.parametrize("block", runnable("serves"), ids=lambda b: b.where)
def test_readme_server_block_serves(block: Block, tmp_path: Path) -> None:
    """A block whose last command starts a server: the commands before it succeed, its banner
    comes, its health is ok, and SIGTERM stops it with exit 0."""
    lines = block.text.rstrip("\n").splitlines()
    last = max(i for i, x in enumerate(lines) if x.strip() and not x.startswith("#"))
    assert lines[last].startswith("python -m emulator"), f"{block.where}: {lines[last]!r}"
    # A free port of its own (see the module's docstring): `--port 0` after the program; `exec`
    # so that the signal reaches the server itself.
    lines[last] = "exec " + lines[last].replace("python -m emulator", "python -m emulator --port 0")
    script = tmp_path / "block.sh"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    process = subprocess.Popen(
        ["bash", "-e", str(script)],
        cwd=tmp_path,
        env=clean_env(bin_with_python(tmp_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        printed: queue.Queue[str] = queue.Queue()
        stdout = process.stdout
        threading.Thread(target=lambda: [printed.put(x) for x in stdout], daemon=True).start()
        seen: list[str] = []
        found = None
        deadline = time.monotonic() + BANNER_TIMEOUT
        while found is None:
            try:
                seen.append(printed.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail(f"{block.where}: no banner in {BANNER_TIMEOUT}s: {seen}")
            found = re.search(r"listening on (http://\S+)", seen[-1])
        with urllib.request.urlopen(found[1] + "/_emulator/health", timeout=10) as answer:
            assert json.load(answer)["status"] == "ok"
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


# ---- YAML examples and the admin table ----------------------------------------------------


def yaml_blocks() -> list[Block]:
    return [b for path in (README, *DOCS) for b in fenced_blocks(path) if b.language == "yaml"]


@pytest.mark.parametrize("block", yaml_blocks(), ids=lambda b: b.where)
def test_yaml_example_is_a_valid_scenario_file(block: Block, tmp_path: Path) -> None:
    """Every YAML example in the docs passes `python -m emulator check` as it stands, and its
    scenarios start."""
    path = tmp_path / "scenarios.yaml"
    path.write_text(block.text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{block.where}:\n{done.stdout}{done.stderr}"
    for name in scenario_names(path):  # and each scenario builds a plan the server can serve
        Runtime.from_config(load_scenario(name, path)).close()


def test_the_docs_hold_yaml_examples() -> None:
    assert len(yaml_blocks()) >= 10


def test_every_admin_endpoint_is_in_the_readme() -> None:
    """Each route under /_emulator/ appears in the README (path parameters written any way)."""
    text = README.read_text(encoding="utf-8")
    written = set(re.findall(r"/_emulator(?:/[^\s`|,)?]*)?", text))
    app = build_app(Config())
    for resource in app.router.resources():
        path = resource.canonical
        if not path.startswith("/_emulator"):
            continue
        pattern = re.escape(path).replace(r"\{", "{").replace(r"\}", "}")
        pattern = re.sub(r"\{\w+\}", r"[^/]+", pattern)
        assert any(re.fullmatch(pattern, w) for w in written), f"{path} is not in README.md"


# ---- self-contained documentation -----------------------------------------------------------

PRIVATE_NOTES = ("product.md", "wire.md", "decisions.md", "../shared", "token-plan-faq.txt")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    found = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.name)
def test_docs_cite_nothing_a_user_lacks(path: Path) -> None:
    """The research notes behind the project are not shipped: the docs cite docs/sources.md."""
    text = path.read_text(encoding="utf-8")
    for note in PRIVATE_NOTES:
        assert note not in text, f"{path.name} cites {note}, which users do not have"


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.name)
def test_relative_links_reach_a_file_and_heading(path: Path) -> None:
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # a URL
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists(), f"{path.name}: link to a missing file {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{path.name}: no heading #{anchor} in {linked.name}"


def test_the_readme_banner_is_the_real_one() -> None:
    """The banner the README shows is what `python -m emulator` prints with the defaults (the
    version and the elided model lists aside)."""
    shown = next(b for b in fenced_blocks(README) if b.text.startswith("token-plan-emulator "))
    runtime = Runtime.from_config(Config())
    try:
        real = banner(runtime, f"http://127.0.0.1:{DEFAULT_PORT}").splitlines()
    finally:
        runtime.close()
    for line in shown.text.splitlines()[1:]:
        if "..." not in line:
            assert line in real, f"README.md:{shown.line}: not in the banner: {line!r}"
