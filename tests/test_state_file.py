"""The state file itself: whatever is wrong with it (cut short, overwritten, edited by hand, not
a file, not ours), `python -m emulator --state FILE` says so in one line and exits 2, and
`Runtime.from_config` raises ConfigError: never a traceback, never a new plan over old books.
A file the emulator creates is readable by its owner only (it holds the full keys).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from emulator.config import Config, ConfigError
from emulator.journal import Entry
from emulator.runtime import Runtime
from tests.test_cli import FROZEN_AT, cli_server, run_cli

UNUSABLE = "not a usable state file"


def _written(path: Path) -> None:
    """A state file as a served plan leaves it: a seat that spent, a pack, journal entries."""
    runtime = Runtime.from_config(Config(clock=FROZEN_AT, state_file=str(path)))
    runtime.ledger.seats["seat-1"].used = 1_234_567
    runtime.ledger.buy_pack()
    for number in range(40):
        runtime.journal.record(Entry(f"r{number}", 1777593600.0, "POST", "/x", status=200))
    runtime.persist()
    runtime.close()  # the last connection: the log is checkpointed into the file


def _sql(*statements: str) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        with sqlite3.connect(path) as db:
            for statement in statements:
                db.execute(statement)
        db.close()

    return edit


def _truncate(size: int) -> Callable[[Path], None]:
    def cut(path: Path) -> None:
        with open(path, "r+b") as file:
            file.truncate(size)

    return cut


def _random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(9).randbytes(16384))


def _overwrite_a_page(path: Path) -> None:
    """A page in the middle of the file overwritten: SQLite's own check finds it."""
    with open(path, "r+b") as file:
        file.seek(3 * 4096)
        file.write(random.Random(3).randbytes(4096))


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _nested(path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    _sql(f"UPDATE journal SET entry = '{deep}' WHERE seq = 3")(path)


def _foreign(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    db.close()


NO_MEMBER, SURROGATE = '"member":null', '"member":"\\ud800"'  # JSON text: an escaped surrogate
# name -> (how the file is spoilt, what the one line says after "not a usable state file (")
CORRUPTIONS: dict[str, tuple[Callable[[Path], None], str]] = {
    "zero bytes": (_truncate(0), "empty: 0 bytes"),
    "cut in its header": (_truncate(50), "database disk image is malformed"),
    "cut short": (_truncate(4096 + 512), "database disk image is malformed"),
    "a page overwritten": (_overwrite_a_page, "damaged"),
    "random bytes": (_random_bytes, "not an SQLite database"),
    "text": (lambda p: p.write_text("not a database\n" * 200), "not an SQLite database"),
    "a directory": (_directory, "a directory"),
    "another SQLite database": (_foreign, "an SQLite database, but not an emulator's state file"),
    "a table missing": (_sql("DROP TABLE packs"), "no table packs"),
    "a table changed": (
        _sql("DROP TABLE seats", "CREATE TABLE seats (id TEXT, used TEXT)"),
        "table seats is not as this version writes it",
    ),
    "bad JSON in a journal row": (
        _sql("UPDATE journal SET entry = '{\"request_id\": ' WHERE seq = 7"),
        "a journal row is not JSON",
    ),
    "a journal row not an entry": (
        _sql("UPDATE journal SET entry = '[1, 2]' WHERE seq = 7"),
        "journal entry 7 is not an entry",
    ),
    "a journal field of the wrong type": (
        _sql("""UPDATE journal SET entry = json_set(entry, '$.time', 'noon') WHERE seq = 8"""),
        "table journal (entry 8): time 'noon' is out of range",
    ),
    "a lone surrogate in a journal row": (
        _sql(f"UPDATE journal SET entry = replace(entry, '{NO_MEMBER}', '{SURROGATE}')"),
        "table journal (entry 1): member '\\ud800' is out of range",
    ),
    "a journal row nested deeply": (_nested, "nested too deeply"),
    "text for an amount": (
        _sql("UPDATE seats SET used = 'lots'"),
        "table seats: used 'lots' is out of range",
    ),
    "a negative amount": (
        _sql("UPDATE seats SET used = -5"),
        "table seats: used -5 is out of range",
    ),
    "an unknown tier": (
        _sql("UPDATE seats SET tier = 'gold'"),
        "table seats: tier 'gold' is out of range",
    ),
    "a clock past the year 9999": (
        _sql("UPDATE plan SET clock_frozen_at = 1e300"),
        "table plan: clock_frozen_at 1e+300 is out of range",
    ),
    "an infinite clock offset": (
        _sql("UPDATE plan SET clock_offset = 9e999, clock_frozen_at = NULL"),
        "table plan: clock_offset inf is out of range",
    ),
    "a term that ends after the year 9999": (
        _sql("UPDATE plan SET term_months = 12 * 8000"),
        "year 10026 is out of range",
    ),
    "a pack's expiry out of range": (
        _sql("UPDATE packs SET expires_at = -1e20"),
        "table packs: expires_at -1e+20 is out of range",
    ),
    "rows but no plan": (_sql("DELETE FROM plan"), "rows, but no plan"),
}


# One of each way a file is refused (before SQLite, by SQLite, the schema, a row, a journal
# row, the dry run), through the command line; every corruption is also refused in process.
# (Each command line costs a second of CPU: the suite runs these, not all.)
ON_THE_COMMAND_LINE = (
    "zero bytes",
    "a directory",
    "a page overwritten",
    "a table missing",
    "a lone surrogate in a journal row",
    "a term that ends after the year 9999",
)


def _spoilt(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "state.db"
    _written(path)
    CORRUPTIONS[name][0](path)
    return path


@pytest.mark.parametrize("name", ON_THE_COMMAND_LINE)
def test_a_spoilt_file_is_refused_in_one_line(tmp_path: Path, name: str) -> None:
    """The command line: exit 2, one line on stderr, nothing on stdout, the file untouched."""
    path = _spoilt(tmp_path, name)
    before = path.read_bytes() if path.is_file() else None
    result = run_cli("--state", str(path), "--port", "0", "--clock", FROZEN_AT)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: --state {path}: {UNUSABLE} ("), lines[0]
    assert CORRUPTIONS[name][1] in lines[0]
    assert lines[0].endswith("); fix or delete it, or use another file")
    assert (path.read_bytes() if path.is_file() else None) == before


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_a_spoilt_file_is_a_config_error(tmp_path: Path, name: str) -> None:
    """In process (the harness, the pytest plugin): ConfigError with the same line."""
    path = _spoilt(tmp_path, name)
    with pytest.raises(ConfigError, match=UNUSABLE) as refused:
        Runtime.from_config(Config(clock=FROZEN_AT, state_file=str(path)))
    assert CORRUPTIONS[name][1] in str(refused.value)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    os.mkfifo(path)
    with pytest.raises(ConfigError, match=r"not a usable state file \(not a regular file\)"):
        Runtime.from_config(Config(state_file=str(path)))


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "state.db"
    result = run_cli("--state", str(path), "--port", "0")
    assert result.returncode == 2
    assert result.stderr == (
        f"error: --state {path}: {UNUSABLE} (no such file or directory); fix or delete it, "
        "or use another file\n"
    )


def test_a_new_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """The file holds the full keys: 0600, its -wal and -shm too, whatever the umask; and no
    half-made file is left beside it."""
    path = tmp_path / "state.db"
    old = os.umask(0)
    try:
        with cli_server("--state", str(path), "--clock", FROZEN_AT) as server:
            assert server.get("/_emulator/health")[0] == 200
            modes = {
                p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir() if p.is_file()
            }
    finally:
        os.umask(old)
    assert modes == {"state.db": 0o600, "state.db-wal": 0o600, "state.db-shm": 0o600}


def test_a_file_with_a_schema_and_no_plan_yet_is_new(tmp_path: Path) -> None:
    """Created and killed before the plan's first commit: the file is taken as new."""
    path = tmp_path / "state.db"
    _written(path)
    _sql(*(f"DELETE FROM {t}" for t in ("plan", "seats", "packs", "keys_issued", "journal")))(path)
    runtime = Runtime.from_config(Config(clock=FROZEN_AT, state_file=str(path)))
    assert runtime.ledger.seats["seat-1"].used == 0
    runtime.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT scenario FROM plan").fetchall() == [("default",)]
    db.close()


def test_every_written_entry_passes_its_check(tmp_path: Path) -> None:
    """The check follows the journal: every field an Entry has is checked."""
    from emulator.plan.state_checks import ENTRY
    from emulator.plan.store import _entry_json

    written = json.loads(_entry_json(Entry("r", 0.0, "GET", "/")))
    assert set(ENTRY) == set(written)
    # every field, as JSON has it
    assert written == json.loads(json.dumps(dataclasses.asdict(Entry("r", 0.0, "GET", "/"))))
