"""One journaled call as the gateway admitted it: what its handler, its stream and its journal
entry read and write, in one record.

A request's state in aiohttp is a mapping: each read is two Python calls, and reading a key that
was never set raises and catches a KeyError inside (about 0.5 µs). The emulator's dozen reads a
call go through this record instead: one lookup, then attributes, and no key is ever missing."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from emulator.engine.types import record
from emulator.journal import Entry, Journal
from emulator.runtime import Runtime
from emulator.scenarios.rules import Probe, Rule

Outcome = tuple[int, str | None, str | None]  # what may change in an entry once recorded


# A call's journal entry as last committed: the journal, its number there, its outcome (a
# plain tuple: one is made for every call, and a tuple is built without running any Python).
Recorded = tuple[Journal, int, Outcome]


@record
class Answering:
    """The scenario rule that answers a call, which of its calls this is, and what it saw."""

    rule: Rule
    call: int
    probe: Probe


@dataclass(slots=True, eq=False)
class Call:
    """Set by the gateway for a site's call (and by the management API for its own) as
    `request[CALL]`; the key the caller presented stays `request[CALLER]`, set once checked."""

    runtime: Runtime  # the app's (one lookup fewer for each reader)
    request_id: str
    arrived: float  # the clock's time when the request came in
    body: bytes  # as received (empty for a call whose body the gateway does not read)
    entry: Entry  # its journal entry, filled in as the call goes
    answering: Answering | None = None  # set when a scenario rule answers
    recorded: Recorded | None = None  # set once the entry is in the journal
    ended: bool = False  # its stream was written to its end (or cut on purpose)


CALL = web.RequestKey("call", Call)
