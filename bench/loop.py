"""Run a server on uvloop's event loop: `python bench/loop.py -m emulator ARGS` or
`python bench/loop.py SCRIPT ARGS`.

bench/run.py starts the bare handler and the emulator through this with `--loop uvloop`, so
both run on the same loop and the ratio between them stays honest. uvloop comes from the
bench's own environment (bench/.venv, from bench/requirements.txt) when the project's lacks it;
that environment is appended to the path, so the project's own packages still win.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    try:
        import uvloop
    except ImportError:
        sys.path += [str(path) for path in (HERE / ".venv" / "lib").glob("python*/site-packages")]
        import uvloop
    uvloop.install()  # the policy asyncio.run and aiohttp's run_app take their loop from
    if sys.argv[1] == "-m":
        sys.argv = [sys.argv[2], *sys.argv[3:]]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
