"""Everything one emulator instance knows, hung off its aiohttp app (no process globals)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from emulator.catalog import Catalog, base_catalog
from emulator.config import Config, ConfigError
from emulator.engine.cache import ContextCache
from emulator.engine.gallery import Gallery
from emulator.engine.generate import Engine
from emulator.engine.stored_responses import ResponseStore
from emulator.journal import Entry, Journal
from emulator.plan.accounts import Accounts
from emulator.plan.clock import Clock, parse_instant
from emulator.plan.coding_plan import CodingPlan
from emulator.plan.credits import MICRO
from emulator.plan.ledger import DAY, Ledger
from emulator.plan.organization import Organization
from emulator.scenarios.rules import RuleBook
from emulator.seeds import Seeds, plan_key

if TYPE_CHECKING:
    from emulator.plan.store import PlanStore


def build_accounts(config: Config, clock: Clock, seeds: Seeds) -> Accounts:
    """The plans a scenario describes, as of the clock's present."""
    if config.subscription_start:
        start = parse_instant(config.subscription_start)
    else:
        start = clock.now() // DAY * DAY
    ledger = Ledger(clock, seeds, start, config.subscription_months)
    for seat_config in config.seats:
        seat = ledger.add_seat(seat_config.tier)
        if seat_config.member is not None:
            ledger.assign(seat.id, seat_config.member, seat_config.key)
        seat.used = round(seat_config.used * MICRO)
        seat.suspended = seat_config.suspended
        if seat_config.pack_limit is not None:
            ledger.set_pack_limit(seat.id, seat_config.pack_limit)
    for pack_config in config.packs:
        ledger.buy_pack().used = round(pack_config.used * MICRO)
    coding_plan = CodingPlan(clock, plan_key(seeds, "coding-plan"), config.coding_plan_tier, start)
    return Accounts(ledger, coding_plan, payg_key(seeds))


def catalog_of(config: Config) -> Catalog:
    """The models a scenario serves: its catalogue, with its `models` and `rates` applied."""
    return base_catalog(config.catalog).with_models(config.models).with_rates(config.rates)


def payg_key(seeds: Seeds) -> str:
    return "sk-" + seeds.hex(32, "payg")


@dataclass
class Runtime:
    config: Config
    clock: Clock
    seeds: Seeds
    engine: Engine
    catalog: Catalog
    accounts: Accounts
    journal: Journal
    requests_seen: int = 0
    # Prompt prefixes seen (docs/sources.md); in memory only, as the real cache promises nothing
    # across a restart.
    cache: ContextCache = field(default_factory=ContextCache)
    store: PlanStore | None = None  # --state: the plan written through to SQLite
    rules: RuleBook = field(default_factory=RuleBook)  # the scenario's rules and their state
    gallery: Gallery = field(default_factory=Gallery)  # generated images and async image tasks
    responses: ResponseStore = field(default_factory=ResponseStore)  # the Responses API's store
    # The team's members, roles and invite settings (management_routes.py), built from the
    # ledger on first use; kept in the --state file.
    organization: Organization | None = None
    # The newest API call's unexpected failure, cleared by the next call served (health.py).
    last_failure: str | None = None
    # The answers waiting for the commit persist_soon scheduled (none scheduled: None).
    _committing: list[asyncio.Future[None]] | None = field(default=None, repr=False)

    @classmethod
    def from_config(cls, config: Config) -> Runtime:
        """The scenario's start, or with `state_file` the plan that file holds (the file is
        created from the scenario when new). Its clock wins over `config.clock`: a clock moved
        before a restart stays moved."""
        if config.state_file is None:
            return cls.fresh(config)
        # Imported here: SQLite and the store's schema are for --state alone, not every start.
        from emulator.plan.store import PlanStore

        seeds = Seeds(config.seed)
        store = PlanStore(config.state_file, config.scenario, config.seed)
        try:
            saved = store.load(seeds)
        except ConfigError:
            store.close()
            raise
        if saved is None:
            runtime = cls.fresh(config)
            runtime.store = store
            runtime.persist()
            return runtime
        accounts = Accounts(saved.ledger, saved.coding_plan, payg_key(seeds))
        return cls(
            config,
            saved.clock,
            seeds,
            Engine(seeds, config.tool_calls),
            catalog_of(config),
            accounts,
            saved.journal,
            store=store,
            rules=RuleBook(config.rules, config.initial_state, config.initial_state),
            organization=saved.organization,
        )

    @classmethod
    def fresh(cls, config: Config) -> Runtime:
        """The scenario's start, in memory."""
        seeds = Seeds(config.seed)
        clock = Clock(parse_instant(config.clock) if config.clock else None)
        accounts = build_accounts(config, clock, seeds)
        rules = RuleBook(config.rules, config.initial_state, config.initial_state)
        return cls(
            config,
            clock,
            seeds,
            Engine(seeds, config.tool_calls),
            catalog_of(config),
            accounts,
            Journal(),
            rules=rules,
        )

    def persist(self) -> None:
        """Commit what changed to the state file, if there is one. Called after every charge
        (before its response goes out), every journal entry and every admin change."""
        if self.store is not None:
            self.store.save(
                self.clock, self.ledger, self.accounts.coding_plan, self.journal, self.organization
            )

    def persist_soon(self) -> None:
        """Commit what changed in the event loop's next pass, together with what the other
        requests handled in this pass changed: one transaction for all of them (a group
        commit), instead of one a request. An answer goes out only after its commit
        (`persisted`), so a charge a client saw is on disk whatever happens to the process."""
        if self.store is not None and self._committing is None:
            self._committing = []
            asyncio.get_running_loop().call_soon(self._commit)

    @property
    def commit_pending(self) -> bool:
        """Whether persist_soon scheduled a commit that has not run yet (never without a
        state file): what `persisted` would wait for."""
        return self._committing is not None

    async def persisted(self) -> None:
        """Wait for the commit persist_soon scheduled, if one is; raise what it raised."""
        if self._committing is not None:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._committing.append(waiter)  # (its own future: a cancelled waiter cancels
            await waiter  # only itself, never the commit the others wait for)

    def _commit(self) -> None:
        waiters, self._committing = self._committing or [], None
        try:
            self.persist()
        except Exception as exc:  # (the next commit retries the whole change: store.py)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            if not waiters:  # nobody to tell: the health report says it
                from emulator.admin.health import describe  # (health imports this module)

                self.last_failure = describe(exc)
            return
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def revise(self, journal: Journal, number: int, entry: Entry) -> None:
        """Entry `number` of `journal`, already committed, changed (how a stream ended): commit
        it again, unless a reset has since replaced that journal."""
        if self.store is not None and journal is self.journal:
            self.store.revise(journal, number, entry)
            self.persist()

    def close(self) -> None:
        if self.store is not None:
            if self._committing is not None:  # a commit the loop did not get to run
                self._commit()
            self.store.close()

    def reset(self) -> None:
        """Back to the scenario's start: clock, plans, rules, journal, caches (and the state
        file)."""
        fresh = Runtime.fresh(self.config)
        self.seeds, self.clock, self.engine = fresh.seeds, fresh.clock, fresh.engine
        self.catalog = fresh.catalog
        self.accounts, self.rules = fresh.accounts, fresh.rules
        self.organization = None
        self.journal, self.requests_seen = fresh.journal, 0
        self.cache.clear()
        self.gallery = Gallery()
        self.responses.clear()
        if self.store is not None:
            self.store.scenario, self.store.seed = self.config.scenario, self.config.seed
        self.persist()

    def switch(self, config: Config) -> None:
        """Serve another scenario, from its start."""
        self.config = config
        self.reset()

    def resubscribe(self, months: int) -> None:
        self.accounts.ledger = self.ledger.successor(self.clock.now(), months)

    @property
    def ledger(self) -> Ledger:
        return self.accounts.ledger

    def team(self) -> Organization:
        """The organisation: built from the ledger on first use and again after a reset or a
        switch (which drop it); a new subscription keeps it. Seat holders given seats since
        (scenario, admin API) join as members."""
        if self.organization is None:
            self.organization = Organization.of(self.ledger, self.seeds, self.config.organization)
        self.organization.sync(self.ledger)
        return self.organization

    def seat_keys(self) -> dict[str, str]:
        """member -> key of every assigned seat."""
        return {s.member: s.key for s in self.ledger.seats.values() if s.member and s.key}


RUNTIME = web.AppKey("runtime", Runtime)
