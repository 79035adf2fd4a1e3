"""`--state FILE`: the plan survives a restart, and a SIGKILL loses no charge a client saw.

Servers are real `python -m emulator` processes (tests/test_cli.py's `cli_server`), killed with
SIGKILL (no shutdown code runs) and started again on the same file; clients are the real SDKs
and the admin API over HTTP. The store's own round trip, the harness, and one test that must
look at the file at an exact moment run in process.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from openai.types import CompletionUsage

from emulator.catalog import default_catalog
from emulator.config import Config, ConfigError
from emulator.harness import start_emulator
from emulator.journal import Entry, Journal
from emulator.plan.clock import parse_instant
from emulator.plan.credits import MICRO, cost_of
from emulator.plan.store import PlanStore
from emulator.protocols import openai_chat
from emulator.runtime import Runtime
from tests.test_cli import FROZEN_AT, CliServer, cli_server, run_cli

SAY = [{"role": "user", "content": "Write one short line about the sea."}]


# ---- helpers ------------------------------------------------------------------------------


def call(server: CliServer, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """The admin API, answering JSON with Credits as exact Decimals."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + "/_emulator" + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 201)
        return json.loads(response.read(), parse_float=Decimal)


def micro(credits: Decimal) -> int:
    exact = credits * MICRO
    assert exact == int(exact), credits
    return int(exact)


def key_of(state: dict[str, Any], member: str) -> str:
    return str(next(s["key"] for s in state["seats"] if s["member"] == member))


def oai(server: CliServer, key: str, base: str = "/compatible-mode/v1") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + base, api_key=key, max_retries=0)


def claude(server: CliServer, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=server.url + "/apps/anthropic", auth_token=key, api_key=None, max_retries=0
    )


def books(server: CliServer) -> dict[str, Any]:
    """Everything the state file keeps, as the admin API shows it."""
    stats = call(server, "GET", "/stats")
    del stats["RequestId"]  # counts requests since start-up: not plan state
    return {
        "state": call(server, "GET", "/state"),
        "journal": call(server, "GET", "/journal?limit=10000"),
        "usage": [call(server, "GET", f"/usage?days={days}") for days in (1, 7, 30)],
        "stats": stats,
        "clock": call(server, "GET", "/clock"),
    }


@contextmanager
def served(state_file: Path, *args: str) -> Iterator[CliServer]:
    with cli_server("--state", str(state_file), *args) as running:
        yield running


def sigkill(server: CliServer) -> None:
    """No shutdown code runs: what is on disk is what was committed."""
    server.process.kill()
    server.process.wait(5)


def charge_of(model: str, prompt: int, cached: int, completion: int) -> int:
    """What the client was told, in micro-Credits: its usage at the model's rates."""
    rates = default_catalog().text_models[model].credits
    return cost_of(prompt - cached, cached, completion, rates).total


# ---- continuing after a restart -----------------------------------------------------------


def test_everything_continues_after_sigkill(tmp_path: Path) -> None:
    """Seat used, packs, seats and keys (a reset key stays reset), a moved clock, the journal,
    the usage and the Coding Plan's counts are exactly as they were after a SIGKILL; then the
    restarted server carries on from there."""
    path = tmp_path / "state.db"
    with served(path, "--clock", FROZEN_AT) as first:
        state = call(first, "GET", "/state")
        alice = key_of(state, "alice")
        coding_key = state["coding_plan"]["key"]
        oai(first, alice).chat.completions.create(model="qwen3.6-plus", messages=SAY)
        list(
            oai(first, alice).chat.completions.create(
                model="glm-5", messages=SAY, stream=True, stream_options={"include_usage": True}
            )
        )
        claude(first, alice).messages.create(model="glm-5", max_tokens=64, messages=SAY)
        call(first, "POST", "/packs")
        bob_seat = call(first, "POST", "/seats", {"tier": "standard", "member": "bob"})
        old_bob = bob_seat["key"]
        new_bob = call(first, "POST", f"/seats/{bob_seat['id']}/reset-key")["key"]
        assert new_bob != old_bob
        call(first, "POST", "/clock", {"advance": "+3d"})
        call(first, "POST", "/seats/seat-1/upgrade", {"tier": "max"})
        oai(first, new_bob).chat.completions.create(model="MiniMax-M2.5", messages=SAY)
        for _ in range(3):
            oai(first, coding_key, "/coding-plan/v1").chat.completions.create(
                model="qwen3.6-plus", messages=SAY
            )
        with pytest.raises(openai.AuthenticationError):
            oai(first, old_bob).chat.completions.create(model="qwen3.6-plus", messages=SAY)
        before = books(first)
        sigkill(first)

    assert before["clock"] == {"now": "2026-05-04T00:00:00Z", "frozen": True}
    assert before["state"]["coding_plan"]["used"] == {"hour": 3, "week": 3, "month": 3}
    assert len(before["journal"]["entries"]) == 8
    assert before["state"]["seats"][0]["used"] > 0

    # The same command line: its --clock does not move the saved clock back.
    with served(path, "--clock", FROZEN_AT) as second:
        assert "clock frozen at 2026-05-04T00:00:00Z" in "\n".join(second.banner)
        assert books(second) == before
        with pytest.raises(openai.AuthenticationError):  # the reset key stays reset
            oai(second, old_bob).chat.completions.create(model="qwen3.6-plus", messages=SAY)
        reply = oai(second, new_bob).chat.completions.create(model="glm-5", messages=SAY)
        oai(second, coding_key, "/coding-plan/v1").chat.completions.create(
            model="glm-5", messages=SAY
        )
        after = books(second)
        sigkill(second)

    entries = after["journal"]["entries"]
    assert entries[3:] == before["journal"]["entries"]  # newest first: three more on top
    assert after["state"]["coding_plan"]["used"] == {"hour": 4, "week": 4, "month": 4}
    bob_before = next(s for s in before["state"]["seats"] if s["member"] == "bob")
    bob_after = next(s for s in after["state"]["seats"] if s["member"] == "bob")
    added = _openai_charge("glm-5", reply.usage)
    assert micro(bob_after["used"]) == micro(bob_before["used"]) + added

    with served(path) as third:  # and once more: the last requests are there too
        assert books(third) == after


def test_reset_rewrites_the_file(tmp_path: Path) -> None:
    """POST /_emulator/reset goes back to the scenario's start, on disk too."""
    path = tmp_path / "state.db"
    with served(path, "--clock", FROZEN_AT) as first:
        pristine = books(first)
        alice = key_of(pristine["state"], "alice")
        oai(first, alice).chat.completions.create(model="qwen3.6-plus", messages=SAY)
        call(first, "POST", "/packs")
        call(first, "POST", "/seats/seat-1/reset-key")
        call(first, "POST", "/clock", {"advance": "+40d"})
        call(first, "POST", "/reset")
        sigkill(first)
    with served(path, "--clock", FROZEN_AT) as second:
        assert books(second) == pristine
        oai(second, alice).chat.completions.create(model="qwen3.6-plus", messages=SAY)


def test_a_clock_moved_on_real_time_stays_moved(tmp_path: Path) -> None:
    """Unfrozen, the clock keeps its offset from wall time across a restart."""
    path = tmp_path / "state.db"
    with served(path) as first:
        call(first, "POST", "/clock", {"advance": "+10d"})
        sigkill(first)
    with served(path) as second:
        clock = call(second, "GET", "/clock")
    assert clock["frozen"] is False
    ahead = parse_instant(clock["now"]) - time.time()
    assert abs(ahead - 10 * 86400) < 60, ahead


# ---- no charge lost ---------------------------------------------------------------------


def test_sigkill_right_after_the_last_answer_loses_no_charge(tmp_path: Path) -> None:
    """N charged requests over both protocols, streaming and not; SIGKILL as soon as the last
    answer is in. Restarted, the seat's `used` is exactly what the clients were told they
    used, priced at the model's rates, and the journal's charges add up to it.

    The last request is non-streaming so its journal line is due too: a streamed answer's
    charge is committed before its first byte, but its journal line after its last one."""
    path = tmp_path / "state.db"
    told = 0
    requests = 0
    with served(path, "--clock", FROZEN_AT) as first:
        key = key_of(call(first, "GET", "/state"), "alice")
        openai_client, anthropic_client = oai(first, key), claude(first, key)
        for round_ in range(6):
            say = [{"role": "user", "content": f"Round {round_}: a line about the sea."}]
            chat = openai_client.chat.completions.create(model="qwen3.6-plus", messages=say)
            told += _openai_charge("qwen3.6-plus", chat.usage)
            chunks = list(
                openai_client.chat.completions.create(
                    model="glm-5",
                    messages=say,
                    stream=True,
                    stream_options={"include_usage": True},
                )
            )
            told += _openai_charge("glm-5", chunks[-1].usage)
            with anthropic_client.messages.stream(
                model="glm-5", max_tokens=128, messages=say
            ) as stream:
                final = stream.get_final_message()
            told += _anthropic_charge("glm-5", final.usage)
            message = anthropic_client.messages.create(
                model="qwen3.6-plus", max_tokens=128, messages=say
            )
            told += _anthropic_charge("qwen3.6-plus", message.usage)
            requests += 4
        sigkill(first)  # at once: no request in flight, no shutdown

    assert told > 0
    with served(path, "--clock", FROZEN_AT) as second:
        seat = call(second, "GET", "/state")["seats"][0]
        entries = call(second, "GET", "/journal?limit=10000")["entries"]
    assert micro(seat["used"]) == told
    assert len(entries) == requests
    assert sum(micro(Decimal(e["charged"])) for e in entries) == told


def test_a_stream_is_charged_on_disk_before_its_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A streamed answer's usage goes out before the gateway's commit, so its charge is
    committed before the stream starts: the file holds it when the first frame is made.
    (In process, to look at the file at exactly that moment.)"""
    path = tmp_path / "state.db"
    on_disk: list[int] = []
    frames = openai_chat.stream_frames

    def watched(*args: Any, **kwargs: Any) -> Iterator[bytes]:
        with sqlite3.connect(path) as db:
            on_disk.append(db.execute("SELECT used FROM seats WHERE id = 'seat-1'").fetchone()[0])
        yield from frames(*args, **kwargs)

    monkeypatch.setattr(openai_chat, "stream_frames", watched)
    emulator = start_emulator(Config(clock=FROZEN_AT, state_file=str(path)))
    try:
        client = openai.OpenAI(**emulator.openai_kwargs(max_retries=0))
        *_, last = client.chat.completions.create(
            model="glm-5", messages=SAY, stream=True, stream_options={"include_usage": True}
        )
    finally:
        emulator.stop()
    assert on_disk == [_openai_charge("glm-5", last.usage)]
    assert on_disk[0] > 0


def _openai_charge(model: str, usage: CompletionUsage | None) -> int:
    assert usage is not None
    details = usage.prompt_tokens_details
    cached = (details.cached_tokens or 0) if details else 0
    return charge_of(model, usage.prompt_tokens, cached, usage.completion_tokens)


def _anthropic_charge(model: str, usage: anthropic.types.Usage) -> int:
    """Anthropic's input_tokens leaves out what was read from or written to the cache."""
    cached = usage.cache_read_input_tokens or 0
    prompt = usage.input_tokens + cached + (usage.cache_creation_input_tokens or 0)
    return charge_of(model, prompt, cached, usage.output_tokens)


# ---- refusals and the in-memory mode ----------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["--port", "0", "--seed", "7"], ["env", "--seed", "7"]],
    ids=["serve", "env"],
)
def test_another_seed_is_refused(tmp_path: Path, command: list[str]) -> None:
    """A file written under one scenario and seed is not continued under another: exit 2 and
    one clear line, rather than a plan mixing two."""
    path = tmp_path / "state.db"
    with served(path) as first:
        sigkill(first)
    result = run_cli(*command, "--state", str(path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: --state ")
    assert "holds scenario 'default' with seed 0, not scenario 'default' with seed 7" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_not_a_state_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just some text that is long enough to be read\n" * 20)
    result = run_cli("--state", str(path), "--port", "0")
    assert result.returncode == 2
    assert "not a usable state file" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_state_nothing_is_kept(tmp_path: Path) -> None:
    """In memory (no --state), a restart is a fresh start and no file is written."""
    with cli_server("--clock", FROZEN_AT) as first:
        key = key_of(call(first, "GET", "/state"), "alice")
        oai(first, key).chat.completions.create(model="qwen3.6-plus", messages=SAY)
        assert call(first, "GET", "/state")["seats"][0]["used"] > 0
        sigkill(first)
    with cli_server("--clock", FROZEN_AT) as second:
        assert call(second, "GET", "/state")["seats"][0]["used"] == 0
        assert call(second, "GET", "/journal")["entries"] == []


def test_harness_keeps_working_with_and_without_a_store(tmp_path: Path) -> None:
    """start_emulator: no store unless the config names a file; with one, a stopped emulator's
    successor continues it."""
    plain = start_emulator(Config(clock=FROZEN_AT))
    try:
        assert plain.runtime.store is None
        openai.OpenAI(**plain.openai_kwargs(max_retries=0)).chat.completions.create(
            model="qwen3.6-plus", messages=SAY
        )
    finally:
        plain.stop()
    config = Config(clock=FROZEN_AT, state_file=str(tmp_path / "state.db"))
    first = start_emulator(config)
    try:
        openai.OpenAI(**first.openai_kwargs(max_retries=0)).chat.completions.create(
            model="qwen3.6-plus", messages=SAY
        )
        used = first.runtime.ledger.seats["seat-1"].used
    finally:
        first.stop()
    second = start_emulator(config)
    try:
        assert second.runtime.ledger.seats["seat-1"].used == used > 0
        assert len(second.runtime.journal.entries) == 1
    finally:
        second.stop()


# ---- the store itself ---------------------------------------------------------------------


def test_store_round_trips_exactly(tmp_path: Path) -> None:
    """Integers beyond a double's 53 bits, odd float instants, usage buckets, the Coding Plan's
    calls (pruned ones go) and a bounded journal come back exactly."""
    path = tmp_path / "state.db"
    config = Config(clock=FROZEN_AT, state_file=str(path))
    runtime = Runtime.from_config(config)
    ledger = runtime.ledger
    seat = ledger.seats["seat-1"]
    seat.used, seat.bonus = 2**62 + 1, 3
    pack = ledger.buy_pack()
    pack.used, pack.purchased_at = 123_456_789, 1777593600.1 + 1e-7
    ledger.usage[(20574, "alice", "glm-5")] = 2**60 + 7
    ledger.usage[(20575, "", "qwen3.6-plus")] = 1
    ledger.assign(ledger.add_seat("max").id, "bob")
    ledger.reset_key("seat-2")
    coding = runtime.accounts.coding_plan
    for _ in range(5):
        coding.admit()
        runtime.clock.advance(3 * 3600)  # the first calls fall out of every window's reach
    runtime.journal = Journal(limit=3)
    for number in range(5):
        runtime.journal.record(Entry(f"r{number}", 1.5, "POST", "/x", from_packs=(("pack-1", 9),)))
    runtime.persist()
    runtime.close()

    with sqlite3.connect(path) as db:
        assert [s for (s,) in db.execute("SELECT seq FROM journal ORDER BY seq")] == [3, 4, 5]
        kept = [s for (s,) in db.execute("SELECT seq FROM coding_calls ORDER BY seq")]
    assert kept == list(range(5 - len(coding.calls) + 1, 6))

    loaded = Runtime.from_config(config)
    again = loaded.ledger
    assert again.seats == ledger.seats
    assert again.packs == ledger.packs
    assert again.keys_issued == ledger.keys_issued == {"alice": 1, "bob": 2}
    assert dict(again.usage) == dict(ledger.usage)
    assert (again.start, again.term_months, again.generation) == (
        ledger.start,
        ledger.term_months,
        ledger.generation,
    )
    assert loaded.clock.now() == runtime.clock.now()
    assert loaded.accounts.coding_plan.calls == coding.calls
    assert loaded.accounts.coding_plan.counted == 5
    assert list(loaded.journal.entries) == list(runtime.journal.entries)
    assert loaded.journal.recorded == 5
    loaded.close()


def test_store_refuses_another_scenario(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Runtime.from_config(Config(state_file=str(path))).close()
    store = PlanStore(path, "other", 0)
    with pytest.raises(ConfigError, match="holds scenario 'default' with seed 0"):
        store.load(Runtime.fresh(Config()).seeds)
    store.close()


def test_a_save_with_nothing_changed_writes_nothing(tmp_path: Path) -> None:
    """Reads do not write: the admin GETs and a no-op save leave the file's change counter."""
    path = tmp_path / "state.db"
    runtime = Runtime.from_config(Config(clock=FROZEN_AT, state_file=str(path)))
    with sqlite3.connect(path) as db:
        before = db.execute("PRAGMA data_version").fetchone()[0]
        runtime.persist()
        assert db.execute("PRAGMA data_version").fetchone()[0] == before
        runtime.clock.advance(1)
        runtime.persist()
        assert db.execute("PRAGMA data_version").fetchone()[0] != before
    runtime.close()


def test_admin_changes_are_committed_before_the_answer(tmp_path: Path) -> None:
    """An admin POST's change is on disk by the time its answer is read."""
    path = tmp_path / "state.db"
    with served(path, "--clock", FROZEN_AT) as running:
        call(running, "POST", "/packs")
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT id FROM packs").fetchall() == [("pack-1",)]
        with pytest.raises(urllib.error.HTTPError) as refused:
            call(running, "POST", "/seats/seat-9/suspend")
        assert refused.value.code == 404
        call(running, "POST", "/clock", {"advance": "+1h"})
        with sqlite3.connect(path) as db:
            (frozen_at,) = db.execute("SELECT clock_frozen_at FROM plan").fetchone()
        assert frozen_at == parse_instant(FROZEN_AT) + 3600


def test_requests_answered_together_share_one_commit(tmp_path: Path) -> None:
    """Requests the server handles in one pass of its event loop are committed together (a
    group commit), and each answer still goes out only once its charge and entry are on disk."""
    path = tmp_path / "state.db"
    running = start_emulator(Config(clock=FROZEN_AT, state_file=str(path)))
    commits: list[str] = []
    try:
        # sqlite3's own statement trace on the store's connection: what it sends, not a stand-in
        running.run(
            lambda runtime: runtime.store._db.set_trace_callback(  # type: ignore[union-attr]
                lambda sql: commits.append(sql) if sql == "COMMIT" else None
            )
        )
        host, port = running.url.removeprefix("http://").split(":")[:2]
        body = json.dumps({"model": "qwen3.6-plus", "messages": SAY}).encode()
        raw = (
            f"POST /compatible-mode/v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {running.api_key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        sockets = [socket.create_connection((host, int(port.split("/")[0]))) for _ in range(8)]
        for sock in sockets:  # each connection accepted and idle before the test proper
            sock.sendall(raw)
            assert _read_answer(sock).startswith(b"HTTP/1.1 200 OK\r\n")
        commits.clear()
        # The server's loop held for a moment (a callback on its thread that sleeps), so the
        # eight requests are all waiting when it next looks: it handles them in one pass.
        held = threading.Event()

        def hold(_: Runtime) -> None:
            held.set()
            time.sleep(0.3)

        holding = threading.Thread(target=running.run, args=(hold,))
        holding.start()
        assert held.wait(10)
        for sock in sockets:
            sock.sendall(raw)
        holding.join()
        answers = [_read_answer(sock) for sock in sockets]
        for sock in sockets:
            sock.close()
        assert all(answer.startswith(b"HTTP/1.1 200 OK\r\n") for answer in answers)
        with sqlite3.connect(path) as db:  # each one's entry was on disk when it was read
            assert db.execute("SELECT count(*) FROM journal").fetchone() == (16,)
        assert len(commits) == 1
    finally:
        running.stop()


def _read_answer(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, rest = received.partition(b"\r\n\r\n")
    length = int(
        next(
            line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        ).split(b":")[1]
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    return head + b"\r\n\r\n" + rest
