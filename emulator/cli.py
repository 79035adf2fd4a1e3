"""`python -m emulator [serve|env]`: run the emulator, or print a shell set-up for it."""

from __future__ import annotations

import argparse
import asyncio
import logging
import shlex
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from emulator import __version__
from emulator.config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    Config,
    ConfigError,
    load_scenario,
    scenario_names,
)
from emulator.plan.clock import parse_instant
from emulator.runtime import RUNTIME, Runtime
from emulator.server import ANTHROPIC_BASE, OPENAI_BASE, build_app
from emulator.sites import SITES

DEFAULT_MODEL = "qwen3.6-plus"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="Offline emulator of Alibaba Cloud Model Studio's Token Plan Team Edition.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="serve the emulator (the default command)")
    env = commands.add_parser("env", help="print shell export lines for tools and SDKs")
    listing = commands.add_parser("scenarios", help="list the scenarios with a line each")
    listing.add_argument("--scenarios", type=Path, default=None, help="a scenarios YAML file")
    check = commands.add_parser("check", help="validate a scenarios YAML file")
    check.add_argument("file", type=Path)
    for sub in (parser, serve, env):
        _common(sub)
    for sub in (parser, serve):
        sub.add_argument(
            "--log-level",
            default=argparse.SUPPRESS,
            type=str.lower,
            choices=("debug", "info", "warning", "error"),
            help="logging detail (default warning)",
        )
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    sup = argparse.SUPPRESS
    parser.add_argument("--host", default=sup, help=f"interface to bind (default {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=int, default=sup, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)"
    )
    parser.add_argument("--seed", type=int, default=sup, help="fix all randomness (default 0)")
    parser.add_argument(
        "--clock", default=sup, help="freeze the clock at an ISO instant, e.g. 2026-05-01T00:00:00Z"
    )
    parser.add_argument("--scenario", default=sup, help="scenario name (default: default)")
    parser.add_argument("--scenarios", type=Path, default=sup, help="a scenarios YAML file")
    parser.add_argument(
        "--state",
        metavar="FILE",
        default=sup,
        help="keep the plan in this SQLite file and continue it on restart (default: in memory)",
    )
    parser.add_argument(
        "--accept-x-api-key",
        action="store_true",
        default=sup,
        help="accept the key in x-api-key too (later docs); the FAQ's launch behaviour rejects it",
    )


def config_from(args: argparse.Namespace) -> Config:
    config = load_scenario(getattr(args, "scenario", "default"), getattr(args, "scenarios", None))
    config = config.with_overrides(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        seed=getattr(args, "seed", None),
        clock=getattr(args, "clock", None),
        accept_x_api_key=getattr(args, "accept_x_api_key", None),
        state_file=getattr(args, "state", None),
    )
    if config.clock:
        try:
            parse_instant(config.clock)
        except (ValueError, OverflowError, OSError):
            raise ConfigError(
                f"clock {config.clock!r} is not an ISO-8601 instant (e.g. 2026-05-01T00:00:00Z)"
            ) from None
    return config


def banner(runtime: Runtime, root: str) -> str:
    config = runtime.config
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
        f"  scenario {config.scenario!r}, seed {config.seed}, clock {clock}",
        f"  OpenAI-compatible base URL     {root}{OPENAI_BASE}",
        f"  Anthropic-compatible base URL  {root}{ANTHROPIC_BASE}",
        f"  Health                         {root}/_emulator/health",
    ]
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
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in exports.items())


async def serve(config: Config) -> None:
    app = build_app(config)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    port = sockets[0].getsockname()[1] if sockets else config.port
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):  # before the banner: a signal sent on seeing
        loop.add_signal_handler(signum, stop.set)  # it must already stop the server cleanly
    print(banner(app[RUNTIME], f"http://{config.host}:{port}"), flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        app[RUNTIME].close()


def list_scenarios(path: Path | None) -> int:
    names = scenario_names(path)
    width = max(map(len, names), default=0)
    for name, description in names.items():
        print(f"{name:<{width}}  {description}")
    return 0


def check_file(path: Path) -> int:
    """Validate every scenario of `path`; print each problem with its line, or a summary."""
    try:
        names = scenario_names(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    rules = sum(len(load_scenario(name, path).rules) for name in names)
    print(f"{path}: {len(names)} scenarios, {rules} rules: OK")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "scenarios":
            return list_scenarios(args.scenarios)
        if args.command == "check":
            return check_file(args.file)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        config = config_from(args)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "env":
        try:
            print(env_lines(config))
        except ConfigError as exc:  # a --state file of another scenario or seed
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    logging.basicConfig(
        level=getattr(args, "log_level", "warning").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve(config))
    except ConfigError as exc:  # a --state file of another scenario or seed
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the port is taken, the host is not ours, ...
        print(f"error: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    return 0
