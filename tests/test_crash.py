"""Crash safety with `--state`: a real `python -m emulator` killed with SIGKILL while streams and
whole answers are in flight, again and again, and started again on the same file.

After every restart the books must hold: the seats' and packs' spend equals the sum of the
journal's charges to the micro-Credit (a charge is never on disk without its journal entry,
streams included), and every request a client got a complete 200 answer for is in the journal
as a 200. Clients are raw HTTP (httpx), so "complete" means what the bytes say: a whole JSON
body, or a stream that reached its last event and its terminating chunk.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from tests.test_cli import FROZEN_AT, CliServer, cli_server
from tests.test_state import call, micro, sigkill

# Streams that say "slow" get 20 ms between frames, so a kill finds some half-sent.
SCENARIOS = """
crash:
  description: The default plan, with slow streams to be cut by a kill.
  seed: 0
  rules:
    - name: slow
      match: {last_user: slow}
      fault: {chunk_delay: 0.02}
"""
KILLS = 4
WORKERS = 8
TRAFFIC_SECONDS = (0.6, 1.2)  # how long requests flow before each kill (drawn, seeded)
OPENAI_CHAT = "/compatible-mode/v1/chat/completions"
ANTHROPIC_MESSAGES = "/apps/anthropic/v1/messages"


@dataclass
class Traffic:
    """What the clients saw: the request ids of complete 200 answers, and streams under way."""

    acknowledged: set[str] = field(default_factory=set)
    streaming: int = 0  # streams that have started and not ended
    unexpected: list[str] = field(default_factory=list)  # failures before the kill
    lock: threading.Lock = field(default_factory=threading.Lock)
    killed: threading.Event = field(default_factory=threading.Event)


def _request(number: int, rng: random.Random) -> tuple[str, dict[str, Any], bool]:
    """One of four kinds: OpenAI or Anthropic, streamed (slow, or not) or whole."""
    stream = rng.random() < 0.6
    slow = "slow " if stream and rng.random() < 0.7 else ""
    text = f"{slow}request {number}: one line about the sea."
    messages = [{"role": "user", "content": text}]
    if rng.random() < 0.5:
        body: dict[str, Any] = {"model": "glm-5", "messages": messages, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        return OPENAI_CHAT, body, stream
    body = {"model": "qwen3.6-plus", "max_tokens": 200, "messages": messages, "stream": stream}
    return ANTHROPIC_MESSAGES, body, stream


def _complete_stream(path: str, lines: Iterator[str]) -> bool:
    """Read a stream to its end; True when it reached the protocol's last event."""
    last = "data: [DONE]" if path == OPENAI_CHAT else "event: message_stop"
    finished = False
    for line in lines:
        if line.strip() == last:
            finished = True
    return finished


def _client(server: CliServer, key: str, worker: int, traffic: Traffic, seed: int) -> None:
    rng = random.Random(f"{seed}-{worker}")
    headers = {"Authorization": f"Bearer {key}"}
    number = 0
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        while not traffic.killed.is_set():
            number += 1
            path, body, stream = _request(seed * 100_000 + worker * 10_000 + number, rng)
            try:
                if stream:
                    with client.stream("POST", path, json=body) as response:
                        with traffic.lock:
                            traffic.streaming += 1
                        try:
                            complete = _complete_stream(path, response.iter_lines())
                        finally:
                            with traffic.lock:
                                traffic.streaming -= 1
                else:
                    response = client.post(path, json=body)
                    complete = "usage" in response.json()
                request_id = response.headers["x-request-id"]
            except (httpx.TransportError, json.JSONDecodeError) as error:
                if not traffic.killed.is_set():
                    traffic.unexpected.append(f"{path}: {error!r}")
                return
            if response.status_code != 200 or not complete:
                if not traffic.killed.is_set():
                    traffic.unexpected.append(f"{path}: {response.status_code}, {complete}")
                return
            with traffic.lock:
                traffic.acknowledged.add(request_id)


def _books(server: CliServer) -> tuple[int, int, dict[str, dict[str, Any]]]:
    """The plan's spend, the journal's charges (micro-Credits) and its entries by request id."""
    state = call(server, "GET", "/state")
    spend = sum(micro(seat["used"]) for seat in state["seats"])
    spend += sum(micro(pack["used"]) for pack in state["packs"])
    entries = call(server, "GET", "/journal?limit=10000")["entries"]
    charged = sum(micro(Decimal(entry["charged"])) for entry in entries)
    return spend, charged, {entry["request_id"]: entry for entry in entries}


def _check(server: CliServer, acknowledged: set[str]) -> int:
    spend, charged, journal = _books(server)
    assert spend == charged, f"spend {spend} != journal charges {charged}"
    missing = sorted(acknowledged - set(journal))
    assert not missing, f"{len(missing)} acknowledged requests not in the journal"
    assert all(journal[request_id]["status"] == 200 for request_id in acknowledged)
    return len(journal)


def test_books_hold_across_sigkills_mid_stream_and_mid_request(tmp_path: Path) -> None:
    scenarios = tmp_path / "scenarios.yaml"
    scenarios.write_text(SCENARIOS)
    args = ("--scenarios", str(scenarios), "--scenario", "crash", "--clock", FROZEN_AT)
    path = tmp_path / "state.db"
    rng = random.Random(10)
    acknowledged: set[str] = set()
    cut_streams = 0
    for kill in range(KILLS):
        with cli_server("--state", str(path), *args) as server:
            _check(server, acknowledged)  # what the last kill left
            key = server.key
            traffic = Traffic()
            workers = [
                threading.Thread(target=_client, args=(server, key, n, traffic, kill))
                for n in range(WORKERS)
            ]
            for worker in workers:
                worker.start()
            time.sleep(rng.uniform(*TRAFFIC_SECONDS))
            deadline = time.monotonic() + 5
            while traffic.streaming < 2 and time.monotonic() < deadline:
                time.sleep(0.005)  # kill while streams are half-sent
            cut_streams += traffic.streaming
            traffic.killed.set()
            sigkill(server)
            for worker in workers:
                worker.join(15)
            assert not traffic.unexpected, traffic.unexpected
            acknowledged |= traffic.acknowledged
    with cli_server("--state", str(path), *args) as server:
        total = _check(server, acknowledged)
    assert cut_streams >= KILLS * 2  # the kills did land mid-stream
    # Cut streams were charged, so they are journaled though no client saw them end.
    assert total > len(acknowledged) > 0


# Streams whose end changes their journal entry after it was committed with the charge.
ENDINGS = """
endings:
  description: Streams that end in an error frame or are cut.
  seed: 0
  rules:
    - name: broken
      match: {last_user: broken}
      error: {kind: input_too_long, limit: 1000}
      fault: {error_after: 2}
    - {name: cut, match: {last_user: cut}, fault: {cut_after: 3}}
"""


def test_how_a_stream_ended_is_on_disk(tmp_path: Path) -> None:
    """A stream's entry is committed with its charge, then written again with how the stream
    ended (an error frame, a cut): after a SIGKILL the journal says what the client saw."""
    scenarios = tmp_path / "scenarios.yaml"
    scenarios.write_text(ENDINGS)
    args = ("--scenarios", str(scenarios), "--scenario", "endings", "--clock", FROZEN_AT)
    path = tmp_path / "state.db"
    ids = {}
    with cli_server("--state", str(path), *args) as server:
        headers = {"Authorization": f"Bearer {server.key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
            for text in ("broken", "cut", "whole"):
                body = {"model": "glm-5", "messages": [{"role": "user", "content": text}]}
                try:
                    with client.stream("POST", OPENAI_CHAT, json={**body, "stream": True}) as got:
                        ids[text] = got.headers["x-request-id"]
                        for _ in got.iter_lines():
                            pass
                except httpx.RemoteProtocolError:
                    assert text == "cut"  # no terminating chunk
        before = _books(server)
        sigkill(server)
    with cli_server("--state", str(path), *args) as server:
        spend, charged, journal = _books(server)
    assert (spend, charged) == before[:2]
    assert spend == charged > 0
    outcome = {text: (journal[ids[text]]["status"], journal[ids[text]]["error"]) for text in ids}
    assert outcome == {
        "broken": (200, "input_too_long"),
        "cut": (200, "fault:cut"),
        "whole": (200, None),
    }
    assert all(journal[ids[text]]["stream"] for text in ids)
