"""The command line's mistakes, as a user makes them: each gets one `error: ...` line on stderr,
the documented exit code (0 done, 1 the answer is no, 2 a flag, value or file cannot be used) and
never a traceback; a reader that goes away (`| head`) stops nothing.

Every case runs `python -m emulator` in a real subprocess; the pipe cases give it a real pipe
whose reading end is already closed, so its first write fails with EPIPE every time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import anthropic
import openai
import pytest

from emulator.plan.clock import WINDOW
from tests.test_cli import (
    CliServer,
    clean_env,
    cli_server,
    emulator_command,
    exports,
    run_cli,
)

INSTANT = f"must be an ISO-8601 instant within {WINDOW}, such as 2026-05-01T00:00:00Z"
HELP = "(see python -m emulator --help)"
NOT_A_PORT = "is not a port (0 to 65535; 0 picks a free one)"


def assert_one_error_line(result: subprocess.CompletedProcess[str], code: int, line: str) -> None:
    assert result.returncode == code, result
    assert result.stderr.splitlines() == [line]
    assert result.stdout == ""


# ---- flags and values ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--port", "99999"],
            f"error: argument --port: '99999' {NOT_A_PORT} {HELP}",
        ),
        (
            ["--port", "-1"],
            f"error: argument --port: '-1' {NOT_A_PORT} {HELP}",
        ),
        (
            ["status", "--port", "70000"],
            "error: argument --port: '70000' is not a port (0 to 65535; 0 picks a free one) "
            "(see python -m emulator status --help)",
        ),
        (
            ["--seed", "-1"],
            "error: argument --seed: '-1' is not a seed (a whole number 0 to "
            f"9223372036854775807) {HELP}",
        ),
        (["--bogus"], f"error: unrecognized arguments: --bogus {HELP}"),
        (
            ["--seed", "3", "status"],
            "error: --seed means nothing to `status`, which reads a running emulator (it takes "
            "--host and --port)",
        ),
        (
            ["--idle-timeout", "5", "--seed", "1", "scenarios"],
            "error: --idle-timeout, --seed mean nothing to `scenarios`, which lists scenarios (it "
            "takes --scenarios)",
        ),
        (
            ["--scenarios", "s.yaml", "check", "s.yaml"],
            "error: --scenarios means nothing to `check`, which validates the file it is given "
            "(it takes no flags)",
        ),
        (
            ["--log-level", "info", "env"],
            "error: --log-level means nothing to `env`, which prints the set-up for a server (it "
            "takes the server's address, seed, scenario and key flags)",
        ),
        (
            ["env", "--port", "0"],
            "error: env needs the port the server listens on, and 0 is none: start the server "
            "with --port 0, then run env with --port set to the port its banner shows",
        ),
        (
            ["check", "/nonexistent/s.yaml"],
            "error: /nonexistent/s.yaml: cannot read: No such file or directory",
        ),
    ],
    ids=[
        "port too high",
        "port negative",
        "status port",
        "seed negative",
        "unknown flag",
        "server flag before status",
        "server flags before scenarios",
        "scenarios flag before check",
        "log level before env",
        "env port 0",
        "check a missing file",
    ],
)
def test_a_bad_command_line_is_one_line_and_exit_2(args: Sequence[str], line: str) -> None:
    assert_one_error_line(run_cli(*args), 2, line)


def test_server_flags_before_status_are_its_flags(server: CliServer) -> None:
    """`--port N status` asks the emulator on N (it used to ask 8765 whatever N was)."""
    port = server.url.rsplit(":", 1)[1]
    result = run_cli("--host", "127.0.0.1", "--port", port, "status")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Scenario     default\n")


def test_status_with_nobody_answering_exits_1() -> None:
    port = free_port()
    assert_one_error_line(
        run_cli("--port", str(port), "status"),
        1,
        f"error: no emulator answering at http://127.0.0.1:{port} ([Errno 111] Connection refused)",
    )


def test_env_with_accept_x_api_key_exports_anthropic_api_key(server: CliServer) -> None:
    """With the flag the key is in ANTHROPIC_API_KEY too: the Anthropic SDK built from nothing
    but that variable sends it as x-api-key, and a server run with the flag accepts it."""
    plain = exports(run_cli("env").stdout)
    assert "ANTHROPIC_API_KEY" not in plain
    with cli_server("--accept-x-api-key") as running:
        port = running.url.rsplit(":", 1)[1]
        values = exports(run_cli("env", "--port", port, "--accept-x-api-key").stdout)
        assert values["ANTHROPIC_API_KEY"] == values["ANTHROPIC_AUTH_TOKEN"] == running.key
        client = anthropic.Anthropic(
            base_url=values["ANTHROPIC_BASE_URL"], api_key=values["ANTHROPIC_API_KEY"]
        )
        message = client.messages.create(
            model="glm-5", max_tokens=16, messages=[{"role": "user", "content": "Hi"}]
        )
    assert message.type == "message"


# ---- scenario files with impossible instants ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("x:\n  clock: 2026-13-01T00:00:00Z\n", "2: x.clock"),
        ("x:\n  clock: 2026-05-01T25:00:00Z\n", "2: x.clock"),
        ("x:\n  description: d\n  subscription: {start: 2026-02-30}\n", "3: x.subscription.start"),
    ],
    ids=["month 13", "hour 25", "30 February"],
)
def test_an_impossible_instant_is_reported_with_file_and_line(
    tmp_path: Path, text: str, where: str
) -> None:
    """YAML reads `2026-13-01T00:00:00Z` as a timestamp and fails on it: `check`, `scenarios`
    and serving all name the file, the line and the key instead of `month must be in 1..12`."""
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    problem = f"{path}:{where}: {INSTANT}"
    assert_one_error_line(run_cli("check", str(path)), 1, problem)
    assert_one_error_line(run_cli("scenarios", "--scenarios", str(path)), 2, f"error: {problem}")
    served = run_cli("--scenarios", str(path), "--scenario", "x", "--port", "0")
    assert_one_error_line(served, 2, f"error: {problem}")


# ---- pipes that close early ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def closed_stdout() -> Iterator[int]:
    """The writing end of a pipe nobody reads any more (as after `| head -1` has exited)."""
    read, write = os.pipe()
    os.close(read)
    try:
        yield write
    finally:
        os.close(write)


def run_into_closed_pipe(*args: str) -> subprocess.CompletedProcess[str]:
    with closed_stdout() as stdout:
        return subprocess.run(
            emulator_command(*args),
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=20,
            env=clean_env(),
        )


def get_health(url: str, deadline: float) -> int:
    while True:
        try:
            with urllib.request.urlopen(url + "/_emulator/health", timeout=2) as response:
                return int(response.status)
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_server_keeps_serving_when_its_banner_reader_is_gone() -> None:
    """`python -m emulator | head -1`: the banner's write fails (EPIPE); the server serves on,
    and stops with 0 and a quiet stderr on SIGTERM."""
    port = free_port()
    with closed_stdout() as stdout:
        process = subprocess.Popen(
            emulator_command("--port", str(port)),
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
    try:
        assert get_health(f"http://127.0.0.1:{port}", time.monotonic() + 10) == 200
        time.sleep(0.3)  # the banner is written after the bind: let it fail first
        assert process.poll() is None
        assert get_health(f"http://127.0.0.1:{port}", time.monotonic() + 5) == 200
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    assert process.stderr is not None
    errors = process.stderr.read()
    process.stderr.close()
    assert code == 0, errors
    assert errors == ""


def test_a_listing_into_a_closed_pipe_is_quiet(server: CliServer) -> None:
    """`scenarios | head` and `status | head`: exit 0, nothing on stderr."""
    port = server.url.rsplit(":", 1)[1]
    for args in (["scenarios"], ["status", "--port", port], ["env"]):
        result = run_into_closed_pipe(*args)
        assert (result.returncode, result.stderr) == (0, ""), args


def test_head_in_a_shell_pipeline(tmp_path: Path) -> None:
    """The same through a real shell pipeline with pipefail, as a user types it."""
    command = " ".join(emulator_command("scenarios"))
    result = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command} | head -1"],
        capture_output=True,
        text=True,
        timeout=20,
        env=clean_env(),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("default ")
    assert result.stderr == ""


# ---- logs ---------------------------------------------------------------------------------


def stop_and_read_stderr(running: CliServer) -> str:
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=10) == 0
    assert running.process.stderr is not None
    return running.process.stderr.read()


def test_info_logs_an_access_line_per_request() -> None:
    """`--log-level info`: one line a request, with method, path, status, milliseconds and
    the request id the client got in `x-request-id`."""
    with cli_server("--log-level", "info") as running:
        client = openai.OpenAI(
            base_url=running.url + "/compatible-mode/v1", api_key=running.key, max_retries=0
        )
        raw = client.chat.completions.with_raw_response.create(
            model="qwen3.6-plus", messages=[{"role": "user", "content": "Hi"}]
        )
        request_id = raw.headers["x-request-id"]
        running.get("/_emulator/health")
        errors = stop_and_read_stderr(running)
    access = [line for line in errors.splitlines() if " emulator.access: " in line]
    assert len(access) == 2, errors
    assert re.search(
        rf" INFO emulator\.access: POST /compatible-mode/v1/chat/completions 200 "
        rf"\d+\.\dms {re.escape(request_id)}$",
        access[0],
    ), access
    assert re.search(r" INFO emulator\.access: GET /_emulator/health 200 \d+\.\dms \S+$", access[1])
    assert "Traceback" not in errors


def test_the_default_level_logs_no_request() -> None:
    with cli_server() as running:
        running.get("/_emulator/health")
        assert stop_and_read_stderr(running) == ""


def test_debug_shows_no_faker_noise() -> None:
    """Faker's locale lookups are its own business: no `faker` logger line at debug."""
    with cli_server("--log-level", "debug") as running:
        client = openai.OpenAI(
            base_url=running.url + "/compatible-mode/v1", api_key=running.key, max_retries=0
        )
        client.chat.completions.create(
            model="qwen3.6-plus", messages=[{"role": "user", "content": "Write a long story"}]
        )
        errors = stop_and_read_stderr(running)
    assert " emulator.access: POST /compatible-mode/v1/chat/completions 200 " in errors
    assert not [line for line in errors.splitlines() if " faker" in line], errors


# ---- the admin API ------------------------------------------------------------------------


def admin_answer(
    url: str, method: str = "GET", body: bytes | None = None
) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        assert error.headers["Content-Type"].startswith("application/json")
        return error.code, json.loads(error.read())


def test_an_unknown_admin_path_is_a_json_404(server: CliServer) -> None:
    assert admin_answer(server.url + "/_emulator/nope") == (
        404,
        {"error": "no admin endpoint '/_emulator/nope'; the README lists them"},
    )
    assert admin_answer(server.url + "/_emulator/static/nope.css") == (
        404,
        {"error": "no admin endpoint '/_emulator/static/nope.css'; the README lists them"},
    )
    assert admin_answer(server.url + "/_emulator/state", "POST", b"{}") == (
        405,
        {"error": "POST is not allowed on '/_emulator/state': GET, HEAD"},
    )


@pytest.fixture(scope="module")
def server() -> Iterator[CliServer]:
    with cli_server() as running:
        yield running
