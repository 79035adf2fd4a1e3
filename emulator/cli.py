"""`python -m emulator [serve|env|scenarios|check|status]`: run the emulator, print a shell
set-up for it, list or check scenarios, or show a running one's plan.

Exit codes, as grep has them: 0 done; 1 the command ran and the answer is no (the port is taken,
no emulator answers, `check` found problems); 2 the command line or a file it names cannot be
used (an unknown flag, a bad value, a scenario file that does not validate). A bad input is one
`error: ...` line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import shlex
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from aiohttp import web

from emulator import __version__
from emulator.catalog import CATALOGS
from emulator.config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    SHIPPED,
    Config,
    ConfigError,
    HttpLimits,
    load_scenario,
    read_scenarios,
    scenario_names,
    scenario_sources,
    user_scenarios,
)
from emulator.engine.types import TOOL_POLICIES
from emulator.plan.clock import parse_instant
from emulator.protocols.alibaba_openapi import access_key
from emulator.runtime import RUNTIME, Runtime
from emulator.seeds import MAX_SEED
from emulator.server import ANTHROPIC_BASE, OPENAI_BASE, build_app
from emulator.serving import Runner
from emulator.sites import SITES

DEFAULT_MODEL = "qwen3.6-plus"
OK, FAILED, USAGE = 0, 1, 2  # the exit codes (module docstring)

# The flags each command takes (argparse dests); the top-level parser takes the server's flags
# before any command, so one given there to a command it means nothing to is refused by name
# rather than ignored.
ENV_FLAGS = frozenset(
    {"host", "port", "seed", "clock", "scenario", "scenarios", "catalog", "state", "tool_calls"}
    | {"admin_anywhere", "accept_x_api_key"}
)
TAKES: dict[str, tuple[frozenset[str], str]] = {
    "env": (
        ENV_FLAGS,
        "which prints the set-up for a server (it takes the server's address, "
        "seed, scenario and key flags)",
    ),
    "status": (
        frozenset({"host", "port"}),
        "which reads a running emulator (it takes --host and --port)",
    ),
    "scenarios": (frozenset({"scenarios"}), "which lists scenarios (it takes --scenarios)"),
    "check": (frozenset(), "which validates the file it is given (it takes no flags)"),
}


class _Parser(argparse.ArgumentParser):
    """argparse with one line for a mistake (its default is the usage block, then the error)."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m emulator",
        description="Offline emulator of Alibaba Cloud Model Studio's Token Plan Team Edition.",
        epilog="Exit codes: 0 done; 1 the command ran and the answer is no (the port is taken, "
        "no emulator answers, check found problems); 2 a flag, value or file cannot be used.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="serve the emulator (the default command)")
    env = commands.add_parser("env", help="print shell export lines for tools and SDKs")
    listing = commands.add_parser("scenarios", help="list the scenarios with a line each")
    listing.add_argument(
        "--scenarios", type=Path, default=argparse.SUPPRESS, help="your scenarios YAML file"
    )
    check = commands.add_parser("check", help="validate a scenarios YAML file")
    check.add_argument("file", type=Path)
    status = commands.add_parser("status", help="print a running emulator's plan as a table")
    sup = argparse.SUPPRESS
    status.add_argument("--host", default=sup, help=f"its host (default {DEFAULT_HOST})")
    status.add_argument("--port", type=_port, default=sup, help=f"its port ({DEFAULT_PORT})")
    for sub in (parser, serve, env):
        _common(sub)
    for sub in (parser, serve):
        _timeouts(sub)
        sub.add_argument(
            "--log-level",
            default=argparse.SUPPRESS,
            type=str.lower,
            choices=("debug", "info", "warning", "error"),
            help="logging detail (default warning)",
        )
    return parser


def _whole(high: int, what: str) -> Callable[[str], int]:
    """An argparse type: a whole number from 0 to `high`; otherwise "'TEXT' is not WHAT"."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = -1
        if not 0 <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return parse


_port = _whole(65535, "a port (0 to 65535; 0 picks a free one)")
_seed = _whole(MAX_SEED, f"a seed (a whole number 0 to {MAX_SEED})")


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value < 86_400 * 365:  # NaN and infinity fail this too
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def _timeouts(parser: argparse.ArgumentParser) -> None:
    limits = HttpLimits()
    for name, default, what in (
        ("header", limits.header_timeout, "from a request's first byte to the end of its headers"),
        ("body", limits.body_timeout, "from the end of a request's headers to the end of its body"),
        ("idle", limits.idle_timeout, "a kept-alive connection may stay idle between requests"),
    ):
        parser.add_argument(
            f"--{name}-timeout",
            type=_seconds,
            metavar="SECONDS",
            default=argparse.SUPPRESS,
            help=f"seconds {what}; the connection is closed after it (default {default:g})",
        )


def _common(parser: argparse.ArgumentParser) -> None:
    sup = argparse.SUPPRESS
    parser.add_argument("--host", default=sup, help=f"interface to bind (default {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=_port, default=sup, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)"
    )
    parser.add_argument("--seed", type=_seed, default=sup, help="fix all randomness (default 0)")
    parser.add_argument(
        "--clock", default=sup, help="freeze the clock at an ISO instant, e.g. 2026-05-01T00:00:00Z"
    )
    parser.add_argument("--scenario", default=sup, help="scenario name (default: default)")
    parser.add_argument(
        "--scenarios",
        type=Path,
        default=sup,
        help="your scenarios YAML file, over the shipped ones (default: ./scenarios.yaml "
        "if there is one)",
    )
    parser.add_argument(
        "--catalog",
        choices=CATALOGS,
        default=sup,
        help="the model list: current (default) or launch, the launch-era list of the FAQ",
    )
    parser.add_argument(
        "--state",
        metavar="FILE",
        default=sup,
        help="keep the plan in this SQLite file and continue it on restart (default: in memory)",
    )
    parser.add_argument(
        "--tool-calls",
        choices=TOOL_POLICIES,
        default=sup,
        help="when the fake model calls a tool unasked: named (the prompt names the tool; the "
        "default) or always (on every user turn, for tool round-trip tests)",
    )
    parser.add_argument(
        "--admin-anywhere",
        action="store_true",
        default=sup,
        help="serve /_emulator/ to any client and any Host header (default: loopback only)",
    )
    parser.add_argument(
        "--accept-x-api-key",
        action="store_true",
        default=sup,
        help="accept the key in x-api-key too (later docs); the FAQ's launch behaviour rejects it",
    )


def _flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """dest -> the flag's long name, over the parser and its commands."""
    names: dict[str, str] = {}
    for action in parser._actions:
        if action.option_strings:
            names.setdefault(action.dest, action.option_strings[-1])
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                names.update({k: v for k, v in _flag_names(sub).items() if k not in names})
    return names


def _misplaced(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str | None:
    """The mistake of flags that mean nothing to the command they were given with, if any."""
    if args.command not in TAKES:
        return None
    takes, why = TAKES[args.command]
    given = sorted(set(vars(args)) - {"command", "file"} - takes)
    if not given:
        return None
    names = _flag_names(parser)
    flags = ", ".join(names.get(dest, dest) for dest in given)
    verb = "means" if len(given) == 1 else "mean"
    return f"{flags} {verb} nothing to `{args.command}`, {why}"


def scenarios_path(args: argparse.Namespace) -> Path | None:
    """--scenarios, else the working directory's own scenarios.yaml, else None."""
    given: Path | None = getattr(args, "scenarios", None)
    return given if given is not None else user_scenarios(Path.cwd())


def config_from(args: argparse.Namespace) -> Config:
    config = load_scenario(getattr(args, "scenario", "default"), scenarios_path(args))
    config = config.with_overrides(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        seed=getattr(args, "seed", None),
        clock=getattr(args, "clock", None),
        catalog=getattr(args, "catalog", None),
        accept_x_api_key=getattr(args, "accept_x_api_key", None),
        admin_anywhere=getattr(args, "admin_anywhere", None),
        tool_calls=getattr(args, "tool_calls", None),
        state_file=getattr(args, "state", None),
    )
    config = config.with_overrides(
        http=replace(
            config.http,
            **{
                f"{name}_timeout": getattr(args, f"{name}_timeout")
                for name in ("header", "body", "idle")
                if hasattr(args, f"{name}_timeout")
            },
        )
    )
    if config.clock:
        try:
            parse_instant(config.clock)
        except ValueError as exc:
            raise ConfigError(f"clock {exc}") from None
    return config


def banner(runtime: Runtime, root: str) -> str:
    config = runtime.config
    access = access_key(runtime.seeds)  # the management API's, from the seed
    catalog = runtime.catalog
    text = [
        f"{model.id}{'' if model.speaks('anthropic') else ' (OpenAI-compatible only)'}"
        for model in catalog.text_models.values()
    ]
    clock = (
        f"frozen at {runtime.clock.datetime():%Y-%m-%dT%H:%M:%SZ}"
        if runtime.clock.frozen
        else "real"
    )
    lines = [
        f"token-plan-emulator {__version__} listening on {root}",
        f"  scenario {config.scenario!r}, {config.catalog} catalogue, seed {config.seed}, "
        f"clock {clock}",
        f"  OpenAI-compatible base URL     {root}{OPENAI_BASE}",
        f"  Anthropic-compatible base URL  {root}{ANTHROPIC_BASE}",
        f"  Usage page                     {root}/_emulator/",
        f"  Health                         {root}/_emulator/health",
        f"  Management API (/tokenplan)    endpoint {root.split('://', 1)[1]}, protocol http",
        f"  AccessKey ID                   {access.id}",
        f"  AccessKey secret               {access.secret}",
    ]
    if config.scenarios_file:
        lines.append(
            f"  Scenarios file                 {config.scenarios_file} (over the shipped ones)"
        )
    if config.state_file:
        lines.append(f"  State file                     {config.state_file}")
    for member, key in runtime.seat_keys().items():
        lines.append(f"  {f'API key ({member})':<31}{key}")
    lines += [
        f"  Text models   {', '.join(text)}",
        f"  Image models  {', '.join(catalog.image_models)}",
        "  For reproducing key / base-URL mix-ups (FAQ):",
    ]
    for site in SITES:
        if site.plan != "token_plan" and site.protocol != "dashscope":
            lines.append(f"    {site.label:<36} {root}{site.base}")
    accounts = runtime.accounts
    lines += [
        f"    Coding Plan key                      {accounts.coding_plan.key}",
        f"    pay-as-you-go key                    {accounts.payg_key}",
        "Ctrl-C stops.",
    ]
    return "\n".join(lines)


def env_lines(config: Config) -> str:
    """The export lines for a server run with `config`. With `accept_x_api_key` the key is in
    ANTHROPIC_API_KEY too, which the Anthropic SDK and Claude Code send as x-api-key."""
    if config.port == 0:
        raise ConfigError(
            "env needs the port the server listens on, and 0 is none: start the server with "
            "--port 0, then run env with --port set to the port its banner shows"
        )
    runtime = Runtime.from_config(config)  # with --state, the keys the file holds
    runtime.close()
    root = f"http://{config.host}:{config.port}"
    key = next(iter(runtime.seat_keys().values()))
    exports = {
        "OPENAI_BASE_URL": root + OPENAI_BASE,
        "OPENAI_API_KEY": key,
        "OPENAI_MODEL": DEFAULT_MODEL,
        "ANTHROPIC_BASE_URL": root + ANTHROPIC_BASE,
        "ANTHROPIC_AUTH_TOKEN": key,
        "ANTHROPIC_MODEL": DEFAULT_MODEL,
    }
    # The management API: the AccessKey variables the Alibaba Cloud SDKs' default credential
    # chain and the aliyun CLI read; the endpoint (host:port, over http) the SDK's Config takes.
    access = access_key(runtime.seeds)
    exports["ALIBABA_CLOUD_ACCESS_KEY_ID"] = access.id
    exports["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] = access.secret
    exports["MODELSTUDIO_ENDPOINT"] = f"{config.host}:{config.port}"
    if config.accept_x_api_key:
        exports["ANTHROPIC_API_KEY"] = key
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in exports.items())


class CannotListen(Exception):
    """The server could not bind its address; the message says which and why."""


def say(text: str) -> None:
    """Print `text` as one write; a reader that has gone (`| head -1`) silences stdout for
    good rather than stopping the command: a server keeps serving without its banner's
    reader, and a listing has nobody left to tell."""
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        _drop_stdout()


def _drop_stdout() -> None:
    # Python flushes stdout again at exit: point it at /dev/null so that flush succeeds too.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (an in-process caller's buffer)
        pass


async def serve(config: Config) -> None:
    app = build_app(config)
    # The modules and the catalogue are tens of thousands of long-lived objects that the
    # collector need not walk on every full collection: freeze what start-up made. Faker is
    # not loaded here: it is a fifth of a start (its import scans every locale's package), and
    # the first answer that needs it loads it (as the pytest fixture's server always has); it
    # adds about 4,000 objects to what a full collection walks. No collection before the
    # freeze: the collections during the imports leave about 30 unreachable objects to
    # freeze with the rest, and a full collection of the 40,000 took 10-20 ms of every start.
    gc.freeze()
    runner = Runner(app, config.http)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    try:
        await site.start()
    except OSError as exc:  # the port is taken, the host is not ours, ...
        await runner.cleanup()
        app[RUNTIME].close()
        raise CannotListen(f"cannot listen on {config.host}:{config.port}: {exc}") from None
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    port = sockets[0].getsockname()[1] if sockets else config.port
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):  # before the banner: a signal sent on seeing
        loop.add_signal_handler(signum, stop.set)  # it must already stop the server cleanly
    say(banner(app[RUNTIME], f"http://{config.host}:{port}"))
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        app[RUNTIME].close()


def scenario_listing(path: Path | None) -> str:
    """A line per scenario that can be served, under the file it comes from: the user's file
    first (its scenarios, and those that replace a shipped one), then the shipped ones."""
    names, sources = scenario_names(path), scenario_sources(path)
    width = max(map(len, names), default=0)
    lines: list[str] = []
    for source in ([str(path)] if path else []) + [SHIPPED]:
        chosen = [name for name in names if sources[name] == source]
        if path is not None:
            lines.append(f"{source}:" if source != SHIPPED else f"{source}, not replaced above:")
        lines += [f"{'  ' if path else ''}{n:<{width}}  {names[n]}".rstrip() for n in chosen]
    return "\n".join(lines)


def check_file(path: Path) -> int:
    """Validate every scenario of `path`; print each problem with its line, or a summary."""
    try:
        scenarios = read_scenarios(path)
    except ConfigError as exc:
        if ": cannot read:" in str(exc):  # no answer about the file: a usage error
            return _fail(exc)
        print(exc, file=sys.stderr)  # a line per problem, each with its file and line
        return FAILED
    rules = sum(len(load_scenario(name, path).rules) for name in scenarios)
    say(f"{path}: {len(scenarios)} scenarios, {rules} rules: OK")
    return OK


def _table(rows: list[list[str]], right: frozenset[int] = frozenset()) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]


def _credits(value: Any) -> str:
    return f"{float(value):,.2f}".rstrip("0").rstrip(".")


def status_text(state: dict[str, Any]) -> str:
    """The usage page's overview as terminal text: subscription, seats, packs."""
    sub, seats = state["subscription"], state["subscription"]["seats"]
    clock = state["clock"]
    tiers = ", ".join(f"{n} x {tier}" for tier, n in sub["tiers"].items()) or "none"
    lines = [
        f"Scenario     {state['scenario']}",
        f"Clock        {clock['now']}{' (frozen)' if clock['frozen'] else ''}",
        f"Subscription {sub['start']} to {sub['end']}{' (expired)' if sub['expired'] else ''}",
        f"Next reset   {sub['next_reset']}",
        f"Tiers        {tiers}",
        f"Seats        {seats['total']} total, {seats['assigned']} assigned, "
        f"{seats['unassigned']} unassigned, {seats['expired']} expired",
        "",
    ]
    rows = [["SEAT", "MEMBER", "TIER", "KEY", "STATUS", "USED", "QUOTA", "LEFT", ""]]
    for seat in state["seats"]:
        share = seat["used"] / seat["quota"] if seat["quota"] else 0.0
        filled = round(min(1.0, share) * 20)
        rows.append(
            [
                seat["id"],
                seat["member"] or "-",
                seat["tier"],
                seat["key_masked"] or "-",
                seat["status"],
                _credits(seat["used"]),
                _credits(seat["quota"]),
                _credits(seat["remaining"]),
                "[" + "#" * filled + "." * (20 - filled) + f"] {share:.0%}",
            ]
        )
    lines += _table(rows, frozenset({5, 6, 7}))
    # Why a seat cannot be used (or draws on packs), worded as the page words it.
    lines += [
        f"  {seat['id']} {seat['status']}: {seat['why']}"
        for seat in state["seats"]
        if seat.get("why")
    ]
    lines.append("")
    if state["packs"]:
        rows = [["PACK", "SIZE", "LEFT", "EXPIRES", ""]]
        for pack in state["packs"]:
            rows.append(
                [
                    pack["id"],
                    _credits(pack["size"]),
                    _credits(pack["remaining"]),
                    pack["expires_at"],
                    "expired" if pack["expired"] else "",
                ]
            )
        lines += _table(rows, frozenset({1, 2}))
    else:
        lines.append("Packs        none")
    if state.get("refused"):
        lines += ["", "Refused (newest first)"]
        rows = [["TIME", "STATUS", "ERROR", "MODEL", "PATH"]]
        for entry in state["refused"]:
            rows.append(
                [
                    entry["time"],
                    str(entry["status"]),
                    entry["error"] or "-",
                    entry["model"] or "-",
                    entry["path"],
                ]
            )
        lines += _table(rows)
    return "\n".join(lines)


def show_status(host: str, port: int) -> int:
    """The plan of the emulator at host:port as a table; 1 when none answers."""
    url = f"http://{host}:{port}/_emulator/state"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            state = json.load(response)
    except urllib.error.HTTPError as exc:
        print(f"error: {url} answered HTTP {exc.code}", file=sys.stderr)
        return FAILED
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"error: no emulator answering at http://{host}:{port} ({reason})", file=sys.stderr)
        return FAILED
    say(status_text(state))
    return OK


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # stdout's reader went away mid-listing (`| head`): not a failure
        _drop_stdout()
        return OK


def _fail(message: object, code: int = USAGE) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    mistake = _misplaced(parser, args)
    if mistake:
        return _fail(mistake)
    if args.command == "status":
        return show_status(getattr(args, "host", DEFAULT_HOST), getattr(args, "port", DEFAULT_PORT))
    if args.command == "check":
        return check_file(args.file)
    try:
        if args.command == "scenarios":
            say(scenario_listing(scenarios_path(args)))
            return OK
        config = config_from(args)
        if args.command == "env":
            say(env_lines(config))  # with --state: a file of another scenario or seed is refused
            return OK
    except ConfigError as exc:
        return _fail(exc)
    level = getattr(logging, getattr(args, "log_level", "warning").upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Faker logs its locale lookups at DEBUG (dozens of lines at start-up): not ours to show.
    logging.getLogger("faker").setLevel(max(level, logging.WARNING))
    try:
        asyncio.run(serve(config))
    except ConfigError as exc:  # a --state file of another scenario or seed
        return _fail(exc)
    except CannotListen as exc:
        return _fail(exc, FAILED)
    return OK
