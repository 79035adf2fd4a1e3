"""What the bench scripts share: a free port, waiting for a server's health, and the requests
every script measures (so each figure is of the same request, whichever script takes it)."""

from __future__ import annotations

import socket
import time
import urllib.request

# The frozen instant every bench server answers at: the same request gets the same bytes.
CLOCK = "2026-05-01T00:00:00Z"
SAY = [{"role": "user", "content": "Write one short paragraph about the sea."}]
CHAT_BODY = {"model": "qwen3.6-plus", "messages": SAY, "enable_thinking": False}
ANTHROPIC_BODY = {"model": "qwen3.6-plus", "messages": SAY, "max_tokens": 512}
RESPONSES_BODY = {"model": "qwen3.6-plus", "input": SAY[0]["content"], "enable_thinking": False}


def streamed(body: dict[str, object]) -> dict[str, object]:
    """The same request, asking for a stream."""
    return {**body, "stream": True}


def emulator_args(port: int, *extra: str) -> list[str]:
    """`python` arguments that serve the emulator on `port` at CLOCK."""
    return ["-m", "emulator", "--port", str(port), "--clock", CLOCK, *extra]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, timeout: float = 10.0) -> float:
    """Seconds until `url` answers 200."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if reply.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.005)
    raise TimeoutError(url)
