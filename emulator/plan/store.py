"""`--state FILE`: the plan kept in SQLite (stdlib), so a restarted emulator continues where it
stopped and a killed process loses no charge a client was told about.

What is kept: the subscription (start, term, generation), the seats, the packs, the keys issued
per member, the usage buckets, the Coding Plan's counted calls, the clock (frozen instant or
offset, so a moved clock stays moved) and the journal (as bounded as in memory), each entry
committed with its charge. Engine caches
and counters that only shape ids are not plan state and start afresh.

Schema: a few explicit tables rather than one JSON document, because the runtime writes
through on every request and a write must cost what the request changed, not the size of the
history. The subscription's scalars and the clock are one row (`plan`); seats, packs and keys
are small tables upserted by diff against what was last written; usage is one row per
(day, member, model) bucket, so a charge rewrites one bucket; the Coding Plan's calls and the
journal are append-only tables numbered by their in-memory counters, trimmed to what memory
still holds. A JSON document would rewrite the 10,000-entry journal on every request. Amounts
are SQLite INTEGERs (64-bit, exact), times REALs (IEEE doubles, as in memory), so both
round-trip bit for bit. `PRAGMA user_version` is the schema version; another version is refused.

Durability: WAL with `synchronous=NORMAL`. A WAL commit has written its pages to the -wal file
(the OS page cache) before it returns, and the page cache survives the process being killed,
SIGKILL included; what NORMAL gives up over FULL is an fsync per commit, which only matters if
the machine loses power or the OS crashes (then the last commits may be lost, and the file stays
consistent). The requirement is the process, not the power, so a request pays a page-cache write
(tens of microseconds) rather than a disk flush (milliseconds).

Each `save` is one transaction; the in-memory picture of what was written is updated only after
its commit, so a failed write is retried whole by the next one. The runtime saves after every
journal entry (before a whole answer is sent, and with a stream's charge before its first byte:
a charge is never on disk without its entry) and after every admin change; a stream's entry is
written again at its end only if the end changed it (an error frame, a cut).

One emulator per file: the file is read once at start-up, and two processes serving it would
each write their own picture of the plan.
"""

from __future__ import annotations

import dataclasses
import json
import operator
import os
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.config import ConfigError
from emulator.journal import DEFAULT_LIMIT, Entry, Journal
from emulator.json_text import encoder
from emulator.plan import state_checks as checks
from emulator.plan.calendar import iso
from emulator.plan.clock import Clock
from emulator.plan.coding_plan import CodingPlan
from emulator.plan.ledger import Ledger, Pack, Seat
from emulator.plan.organization import Organization
from emulator.plan.state_checks import BadRow, check_row
from emulator.seeds import Seeds

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS plan (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    scenario TEXT NOT NULL,
    seed TEXT NOT NULL,                 -- TEXT: a seed may exceed SQLite's 64-bit integers
    start REAL NOT NULL,
    term_months INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    clock_frozen_at REAL,               -- NULL: the clock runs on wall time plus the offset
    clock_offset REAL NOT NULL,
    coding_key TEXT NOT NULL,
    coding_tier TEXT NOT NULL,
    coding_start REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS seats (
    id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,          -- the ledger's order (seats are listed in it)
    tier TEXT NOT NULL,
    member TEXT,
    key TEXT,
    suspended INTEGER NOT NULL,
    used INTEGER NOT NULL,              -- micro-Credits
    bonus INTEGER NOT NULL,             -- micro-Credits
    cycle INTEGER NOT NULL,
    pack_limit INTEGER,                 -- micro-Credits from packs per month; NULL: no limit
    pack_used INTEGER NOT NULL DEFAULT 0  -- micro-Credits drawn from packs in month `cycle`
);
CREATE TABLE IF NOT EXISTS packs (
    id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    purchased_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    size INTEGER NOT NULL,              -- micro-Credits
    used INTEGER NOT NULL               -- micro-Credits
);
CREATE TABLE IF NOT EXISTS keys_issued (member TEXT PRIMARY KEY, issued INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS usage (
    day INTEGER NOT NULL,
    member TEXT NOT NULL,
    model TEXT NOT NULL,
    micro INTEGER NOT NULL,
    PRIMARY KEY (day, member, model)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS coding_calls (seq INTEGER PRIMARY KEY, time REAL NOT NULL);
CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL);  -- Entry as JSON
"""
# Added after schema 1 was published: created in a schema-1 file that lacks it (nothing in it
# to migrate), so files written before keep working.
ORGANIZATION_TABLE = """
CREATE TABLE IF NOT EXISTS organization (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    body TEXT NOT NULL                  -- plan/organization.py's Organization as JSON
)"""
SCHEMA += ORGANIZATION_TABLE + ";\n"
# Seat columns added after schema 1 was published, likewise: a file without them gains them,
# with the values that change nothing (no share limit, nothing drawn from packs).
ADDED_SEAT_COLUMNS = {
    "pack_limit": "pack_limit INTEGER",
    "pack_used": "pack_used INTEGER NOT NULL DEFAULT 0",
}
SEAT_COLUMNS = (
    "id",
    "position",
    "tier",
    "member",
    "key",
    "suspended",
    "used",
    "bonus",
    "cycle",
    *ADDED_SEAT_COLUMNS,
)
PACK_COLUMNS = ("id", "position", "purchased_at", "expires_at", "size", "used")
KEY_COLUMNS = ("member", "issued")
USAGE_COLUMNS = ("day", "member", "model", "micro")
TABLES = ("seats", "packs", "keys_issued", "usage", "coding_calls", "journal")
PLAN_COLUMNS = (
    "id",
    "scenario",
    "seed",
    "start",
    "term_months",
    "generation",
    "clock_frozen_at",
    "clock_offset",
    "coding_key",
    "coding_tier",
    "coding_start",
)
_ENTRY_NAMES = tuple(f.name for f in dataclasses.fields(Entry))
ENTRY_FIELDS = frozenset(_ENTRY_NAMES)
_entry_values = operator.attrgetter(*_ENTRY_NAMES)  # an entry's fields, in their order

Row = tuple[Any, ...]
# What reading a damaged file may raise (ConfigError, itself a ValueError, is let through).
UNREADABLE = (sqlite3.Error, ValueError, TypeError, KeyError, OverflowError, RecursionError)


@dataclass
class Saved:
    """The plan as a state file holds it."""

    clock: Clock
    ledger: Ledger
    coding_plan: CodingPlan
    journal: Journal
    organization: Organization | None = None  # None: never built, or dropped by a reset


class PlanStore:
    """One state file, bound to the scenario and seed that wrote it."""

    def __init__(self, path: str | Path, scenario: str, seed: int) -> None:
        self.path = Path(path)
        self.scenario, self.seed = scenario, seed
        try:
            if not os.path.lexists(self.path):
                _create(self.path)
            _check_file(self.path)
            # The event loop is the only writer, but the harness builds the app on one thread
            # and serves it from another, hence check_same_thread=False. Autocommit mode
            # (isolation_level=None) so each save's BEGIN ... COMMIT is spelled out.
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error, BadRow) as exc:
            raise self._unusable(_reason(exc)) from None
        try:  # checked before anything is written: a file not ours is left as it was
            # A torn or overwritten page shows here, not at the first write mid-serving.
            problems = [row[0] for row in self._db.execute("PRAGMA quick_check(1)")]
            if problems != ["ok"]:
                raise BadRow(f"damaged: {problems[0]}")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version == SCHEMA_VERSION:
                self._db.execute(ORGANIZATION_TABLE)
                _add_seat_columns(self._db)
                _check_schema(self._db)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")  # see the module docstring
        except (sqlite3.Error, BadRow) as exc:
            self._db.close()
            raise self._unusable(_reason(exc)) from None
        if version != SCHEMA_VERSION:
            self._db.close()
            if version == 0:  # the emulator only ever creates a file with its version set
                raise self._unusable("an SQLite database, but not an emulator's state file")
            raise ConfigError(
                f"--state {self.path}: written by another version of the emulator (schema "
                f"{version}, this one reads {SCHEMA_VERSION}); use another file"
            )
        # What the file holds, as of the last commit: saves write only the difference.
        self._plan: Row | None = None
        self._seats: dict[Any, Row] = {}
        self._packs: dict[Any, Row] = {}
        self._keys: dict[Any, Row] = {}
        self._usage = TrackedUsage({})  # the ledger's own, once loaded or first saved
        self._journal = _Log()
        self._coding = _Log()
        self._revised: dict[int, Entry] = {}  # journal entries written, then changed
        # The organisation as the file holds it, and the object and revision it was taken from.
        self._org: str | None = None
        self._org_seen: tuple[Organization | None, int] = (None, 0)

    def close(self) -> None:
        self._db.close()

    # ---- loading -----------------------------------------------------------------------------

    def _unusable(self, reason: str) -> ConfigError:
        return ConfigError(
            f"--state {self.path}: not a usable state file ({reason}); fix or delete it, or "
            "use another file"
        )

    def load(self, seeds: Seeds) -> Saved | None:
        """The saved plan, or None for a new file. A file another scenario or seed wrote is
        refused: continuing it under different settings would mix two plans; so is one holding
        what cannot be served (ConfigError, one line saying what)."""
        try:
            return self._load(seeds)
        except ConfigError:
            raise
        except UNREADABLE as exc:
            raise self._unusable(_reason(exc)) from None

    def _load(self, seeds: Seeds) -> Saved | None:
        db = self._db
        row = db.execute(f"SELECT {', '.join(PLAN_COLUMNS)} FROM plan").fetchone()
        if row is None:  # created, then killed before the plan's first commit: a new file
            if any(db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() for table in TABLES):
                raise BadRow("rows, but no plan")
            return None
        plan = dict(zip(PLAN_COLUMNS, row, strict=True))
        check_row("plan", checks.PLAN, plan)
        if (plan["scenario"], plan["seed"]) != (self.scenario, str(self.seed)):
            raise ConfigError(
                f"--state {self.path} holds scenario {plan['scenario']!r} with seed "
                f"{plan['seed']}, not scenario {self.scenario!r} with seed {self.seed}: serve "
                f"it with --scenario {plan['scenario']} --seed {plan['seed']}, or use another "
                "state file (delete this one to start over)"
            )
        clock = Clock(plan["clock_frozen_at"], plan["clock_offset"])
        seat_rows = _rows(db, "seats", SEAT_COLUMNS, checks.SEAT, "ORDER BY position")
        seats = {
            r[0]: Seat(
                id=r[0],
                tier=r[2],
                member=r[3],
                key=r[4],
                suspended=bool(r[5]),
                used=r[6],
                bonus=r[7],
                cycle=r[8],
                pack_limit=r[9],
                pack_used=r[10],
            )
            for r in seat_rows
        }
        packs = [
            Pack(id=r[0], purchased_at=r[2], expires_at=r[3], size=r[4], used=r[5])
            for r in _rows(db, "packs", PACK_COLUMNS, checks.PACK, "ORDER BY position")
        ]
        usage: defaultdict[tuple[int, str, str], int] = defaultdict(int)
        for day, member, model, micro in _rows(db, "usage", USAGE_COLUMNS, checks.USAGE):
            usage[(day, member, model)] = micro
        ledger = Ledger(
            clock,
            seeds,
            plan["start"],
            plan["term_months"],
            seats=seats,
            packs=packs,
            generation=plan["generation"],
            keys_issued=dict(_rows(db, "keys_issued", KEY_COLUMNS, checks.KEYS)),
            usage=usage,
        )
        calls = _rows(db, "coding_calls", ("seq", "time"), checks.CODING_CALL, "ORDER BY seq")
        coding_plan = CodingPlan(
            clock,
            plan["coding_key"],
            plan["coding_tier"],
            plan["coding_start"],
            calls=[time for _, time in calls],
            counted=calls[-1][0] if calls else 0,
        )
        journal = Journal()
        rows = db.execute(
            "SELECT seq, entry FROM journal ORDER BY seq DESC LIMIT ?", (DEFAULT_LIMIT,)
        ).fetchall()
        for number, text in reversed(rows):
            if type(number) is not int or type(text) is not str:
                raise BadRow(f"journal row {ascii(number)[:20]} is not an entry")
            body = json.loads(text)
            checks.check_entry(number, body)
            journal.entries.append(_entry(body))
        journal.recorded = rows[0][0] if rows else 0
        org_row = db.execute("SELECT body FROM organization WHERE id = 1").fetchone()
        organization = None if org_row is None else Organization.from_json(org_row[0], seeds)
        saved = Saved(clock, ledger, coding_plan, journal, organization)
        _serve_once(saved)
        self._remember(saved)
        return saved

    def _remember(self, saved: Saved) -> None:
        """Take what was just loaded as what the file holds."""
        self._plan = _plan_row(self.scenario, self.seed, saved)
        self._seats = _seat_rows(saved.ledger)
        self._packs = _pack_rows(saved.ledger)
        self._keys = _key_rows(saved.ledger)
        self._usage = saved.ledger.usage = TrackedUsage(saved.ledger.usage)
        # Floor 0: the first save also drops any rows older than what was loaded.
        self._journal = _Log(saved.journal, saved.journal.recorded)
        self._coding = _Log(saved.coding_plan, saved.coding_plan.counted)
        org = saved.organization
        self._org = None if org is None else org.to_json()
        self._org_seen = (org, 0 if org is None else org.revision)

    # ---- saving ------------------------------------------------------------------------------

    def revise(self, journal: Journal, number: int, entry: Entry) -> None:
        """Entry `number` of `journal` changed since it was written (how a stream ended): the
        next save writes it again. (A journal not yet written is written whole anyway.)"""
        if journal is self._journal.owner:
            self._revised[number] = entry

    def save(
        self,
        clock: Clock,
        ledger: Ledger,
        coding_plan: CodingPlan,
        journal: Journal,
        organization: Organization | None = None,
    ) -> None:
        """Write what changed since the last save, in one transaction (nothing when nothing
        changed). A journal, Coding Plan or usage book that is a new object (a reset) is
        rewritten whole."""
        seen = (organization, 0 if organization is None else organization.revision)
        org_changed = seen[0] is not self._org_seen[0] or seen[1] != self._org_seen[1]
        plan = _plan_row(self.scenario, self.seed, Saved(clock, ledger, coding_plan, journal))
        seats, packs, keys = _seat_rows(ledger), _pack_rows(ledger), _key_rows(ledger)
        usage = ledger.usage
        if (
            plan == self._plan
            and seats == self._seats
            and packs == self._packs
            and keys == self._keys
            and usage is self._usage
            and not self._usage.touched
            and self._journal.unchanged(journal, journal.recorded)
            and self._coding.unchanged(coding_plan, coding_plan.counted)
            and not self._revised
            and not org_changed
        ):
            return
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if plan != self._plan:
                _upsert(db, "plan", PLAN_COLUMNS, [plan])
            _sync(db, "seats", SEAT_COLUMNS, seats, self._seats)
            _sync(db, "packs", PACK_COLUMNS, packs, self._packs)
            _sync(db, "keys_issued", KEY_COLUMNS, keys, self._keys)
            self._write_usage(usage)
            journal_log = self._journal.write(
                db, "journal", journal, journal.recorded, journal.entries, _entry_json
            )
            if journal_log.owner is self._journal.owner:  # else rewritten whole just now
                revised = [
                    (number, _entry_json(entry))
                    for number, entry in self._revised.items()
                    if number > journal_log.floor  # not let go of since
                ]
                db.executemany("INSERT OR REPLACE INTO journal VALUES (?, ?)", revised)
            coding_log = self._coding.write(
                db, "coding_calls", coding_plan, coding_plan.counted, coding_plan.calls, float
            )
            org_body = self._org
            if org_changed:
                org_body = None if organization is None else organization.to_json()
                if org_body is None:
                    db.execute("DELETE FROM organization")
                elif org_body != self._org:
                    db.execute("INSERT OR REPLACE INTO organization VALUES (1, ?)", (org_body,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._plan, self._seats, self._packs, self._keys = plan, seats, packs, keys
        self._journal, self._coding = journal_log, coding_log
        self._org, self._org_seen = org_body, seen
        self._revised.clear()
        if usage is self._usage:
            usage.touched.clear()
        else:  # from now on, note the writes to this one
            self._usage = ledger.usage = TrackedUsage(usage)

    def _write_usage(self, usage: dict[tuple[int, str, str], int]) -> None:
        db = self._db
        if usage is self._usage:
            keys: Iterable[tuple[int, str, str]] = self._usage.touched
        else:
            db.execute("DELETE FROM usage")
            keys = list(usage)
        rows = [(*key, usage[key]) for key in keys if key in usage]
        _upsert(db, "usage", ("day", "member", "model", "micro"), rows)
        gone = [key for key in keys if key not in usage]
        if gone:
            db.executemany("DELETE FROM usage WHERE day = ? AND member = ? AND model = ?", gone)


class TrackedUsage(defaultdict[tuple[int, str, str], int]):
    """The ledger's usage buckets, noting which were written since the last save, so a charge
    costs the store one bucket rather than a comparison of the whole history. The store puts
    its contents in one of these when it loads or first saves a ledger."""

    def __init__(self, contents: dict[tuple[int, str, str], int]) -> None:
        super().__init__(int, contents)
        self.touched: set[tuple[int, str, str]] = set()

    def __setitem__(self, key: tuple[int, str, str], value: int) -> None:
        super().__setitem__(key, value)
        self.touched.add(key)

    def __delitem__(self, key: tuple[int, str, str]) -> None:
        super().__delitem__(key)
        self.touched.add(key)


@dataclass(frozen=True)
class _Log:
    """An append-only table (the journal, the Coding Plan's calls) as the file holds it: rows
    are numbered 1.. by the owner's running count, so a save appends `saved + 1 ..` and drops
    what memory has let go of (below `floor + 1`)."""

    owner: object | None = None  # the Journal or CodingPlan last written (a new one: rewrite)
    saved: int = 0  # rows up to this number are in the file
    floor: int = 0  # rows up to this number are not

    def unchanged(self, owner: object, count: int) -> bool:
        return owner is self.owner and count == self.saved

    def write(
        self,
        db: sqlite3.Connection,
        table: str,
        owner: object,
        count: int,
        items: Sequence[Any],
        encode: Callable[[Any], Any],
    ) -> _Log:
        saved, floor = self.saved, self.floor
        if owner is not self.owner:
            db.execute(f"DELETE FROM {table}")
            saved = floor = 0
        fresh = min(count - saved, len(items))
        # Indexed from the end: O(1) per row on the journal's deque, whatever its length.
        rows = [(count - i, encode(items[-1 - i])) for i in reversed(range(fresh))]
        if rows:
            db.executemany(f"INSERT OR REPLACE INTO {table} VALUES (?, ?)", rows)
        kept_from = count - len(items)
        if kept_from > floor:
            db.execute(f"DELETE FROM {table} WHERE seq <= ?", (kept_from,))
        return _Log(owner, count, max(floor, kept_from))


# ---- opening and checking ----------------------------------------------------------------

SQLITE_HEADER = b"SQLite format 3\x00"


def _create(path: Path) -> None:
    """A new state file holding the schema, readable by its owner only (it holds the full
    keys; SQLite gives the -wal and -shm files the same mode). Built beside it and moved into
    place, so a process killed while creating leaves no half-made file at `path`."""
    building = path.with_name(f".{path.name}.{os.getpid()}.new")
    descriptor = os.open(building, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(descriptor)
    try:
        db = sqlite3.connect(building, isolation_level=None)
        try:
            db.executescript(
                f"BEGIN IMMEDIATE;\n{SCHEMA}\nPRAGMA user_version = {SCHEMA_VERSION};\nCOMMIT;"
            )
        finally:
            db.close()
        os.replace(building, path)
    except BaseException:
        building.unlink(missing_ok=True)
        raise


def _check_file(path: Path) -> None:
    """Refuse what is not an SQLite file before SQLite sees it: SQLite takes an empty file for
    a new database, and would quietly start a new plan over a file that lost its contents."""
    if path.is_dir():
        raise BadRow("a directory")
    if path.exists() and not path.is_file():  # a FIFO or a device: reading it could block
        raise BadRow("not a regular file")
    with open(path, "r+b") as file:  # read and write: the reason (permissions) if not
        header = file.read(len(SQLITE_HEADER))
    if header == SQLITE_HEADER:
        return
    if not header:  # (SQLite writes the header when it creates a file, WAL mode included)
        raise BadRow("empty: 0 bytes; the emulator creates a new file only where there is none")
    raise BadRow("not an SQLite database")


def _add_seat_columns(db: sqlite3.Connection) -> None:
    have = {row[0] for row in db.execute("SELECT name FROM pragma_table_info('seats')")}
    if not have:
        return  # no seats table: _check_schema says so
    for name, definition in ADDED_SEAT_COLUMNS.items():
        if name not in have:
            db.execute(f"ALTER TABLE seats ADD COLUMN {definition}")


def _check_schema(db: sqlite3.Connection) -> None:
    """The tables and columns this version writes, exactly (a table changed by hand would
    take the writes wrongly: a key that is no longer unique keeps both rows)."""
    expected = sqlite3.connect(":memory:")
    expected.executescript(SCHEMA)
    try:
        for (table,) in expected.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            query = 'SELECT name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid'
            want = expected.execute(query, (table,)).fetchall()
            have = db.execute(query, (table,)).fetchall()
            if not have:
                raise BadRow(f"no table {table}")
            if have != want:
                raise BadRow(f"table {table} is not as this version writes it")
    finally:
        expected.close()


def _rows(
    db: sqlite3.Connection,
    table: str,
    columns: tuple[str, ...],
    row_checks: dict[str, checks.Check],
    order: str = "",
) -> list[Row]:
    rows = db.execute(f"SELECT {', '.join(columns)} FROM {table} {order}").fetchall()
    for row in rows:
        check_row(table, row_checks, dict(zip(columns, row, strict=True)))
    return rows


def _serve_once(saved: Saved) -> None:
    """What every request and the state page compute from the plan, computed once now."""
    ledger = saved.ledger
    iso(saved.clock.now())
    ledger.cycle_bounds()
    iso(ledger.end)
    for pack in ledger.packs:
        iso(pack.expires_at)
    saved.coding_plan.used()


def _reason(exc: BaseException) -> str:
    """An exception as the few words the one line of an error has room for."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, json.JSONDecodeError):
        return f"a journal row is not JSON: {exc.msg}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


# ---- rows ------------------------------------------------------------------------------------


def _plan_row(scenario: str, seed: int, saved: Saved) -> Row:
    ledger, coding = saved.ledger, saved.coding_plan
    return (
        1,
        scenario,
        str(seed),
        ledger.start,
        ledger.term_months,
        ledger.generation,
        saved.clock.frozen_at,
        saved.clock.offset,
        coding.key,
        coding.tier,
        coding.start,
    )


def _seat_rows(ledger: Ledger) -> dict[Any, Row]:
    return {
        s.id: (
            s.id,
            i,
            s.tier,
            s.member,
            s.key,
            int(s.suspended),
            s.used,
            s.bonus,
            s.cycle,
            s.pack_limit,
            s.pack_used,
        )
        for i, s in enumerate(ledger.seats.values())
    }


def _pack_rows(ledger: Ledger) -> dict[Any, Row]:
    return {
        p.id: (p.id, i, p.purchased_at, p.expires_at, p.size, p.used)
        for i, p in enumerate(ledger.packs)
    }


def _key_rows(ledger: Ledger) -> dict[Any, Row]:
    return {member: (member, issued) for member, issued in ledger.keys_issued.items()}


def _upsert(db: sqlite3.Connection, table: str, columns: tuple[str, ...], rows: list[Row]) -> None:
    if rows:
        marks = ", ".join("?" for _ in columns)
        db.executemany(
            f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
        )


def _sync(
    db: sqlite3.Connection,
    table: str,
    columns: tuple[str, ...],
    rows: dict[Any, Row],
    written: dict[Any, Row],
) -> None:
    """Make `table` (keyed by its first column) hold `rows`, given it holds `written`."""
    if rows == written:
        return
    _upsert(db, table, columns, [row for key, row in rows.items() if written.get(key) != row])
    gone = [(key,) for key in written if key not in rows]
    if gone:
        db.executemany(f"DELETE FROM {table} WHERE {columns[0]} = ?", gone)


# json.dumps(..., ensure_ascii=False, separators=(",", ":")), its C encoder made once
_ENTRY_JSON = encoder(ensure_ascii=False, separators=(",", ":"))


def _entry_json(entry: Entry) -> str:
    # Its fields read in C, not asdict(): they are flat (from_packs is a tuple of pairs), and
    # asdict's deep copy is most of the cost of a journal write.
    return _ENTRY_JSON(dict(zip(_ENTRY_NAMES, _entry_values(entry), strict=True)))


def _entry(body: dict[str, Any]) -> Entry:
    """An Entry from its JSON; fields a later version added or dropped are defaulted / ignored."""
    known = {name: value for name, value in body.items() if name in ENTRY_FIELDS}
    for pairs in ("from_packs", "near_misses"):  # JSON's lists of pairs, as an Entry holds them
        known[pairs] = tuple((first, second) for first, second in known.get(pairs, ()))
    return Entry(**known)
